"""Turn a sentence column into (anchor, positive) pairs of a sentence and its perturbed copy, on the fly,
so every epoch (every access) sees fresh noise."""

from __future__ import annotations

import random
from typing import Any

from datasets import Dataset

from pixel_st.perturb import conditional_shuffle, shuffle_words, typos


def perturber(kind: str, rate: float = 0.1):
    """A function(text, rng) for an augmentation name: typos, shuffle, conditional_shuffle, or mixed."""
    options = {
        "typos": lambda text, rng: typos(text, rate, rng),
        "shuffle": shuffle_words,
        "conditional_shuffle": conditional_shuffle,
    }
    if kind == "mixed":
        return lambda text, rng: rng.choice(list(options.values()))(text, rng)
    if kind not in options:
        raise ValueError(f"Unknown augmentation {kind!r}; choose from {sorted(options) + ['mixed']}")
    return options[kind]


def augmented_pairs(dataset: Dataset, kind: str, rate: float = 0.1, seed: int = 0, column: str = "text") -> Dataset:
    """``dataset[column]`` -> columns (anchor, positive) with a new perturbation drawn at each access; a
    ``label`` column (a teacher's target, pixel_st.distill) rides along, so that under a distillation loss
    the clean sentence and its perturbed copy both regress the teacher's vector of the clean one.

    The noise stream is seeded: the same sequence of accesses yields the same pairs. The transform runs
    wherever rows are read, i.e. in DataLoader workers during training.
    """
    function = perturber(kind, rate)
    rng = random.Random(seed)
    label = ["label"] if "label" in dataset.column_names else []

    def transform(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts = batch[column]
        return {"anchor": texts, "positive": [function(text, rng) for text in texts], **{name: batch[name] for name in label}}

    return dataset.select_columns([column, *label]).with_transform(transform)
