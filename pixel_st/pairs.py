"""Turn a sentence column into (anchor, positive) pairs of a sentence and its perturbed copy, on the fly,
so every epoch (every access) sees fresh noise."""

from __future__ import annotations

import random
from typing import Any

import torch.utils.data
from datasets import Dataset

from pixel_st.perturb import conditional_shuffle, shuffle_words, typos


class Perturbation:
    """A function(text, rng) for an augmentation name: typos, shuffle, conditional_shuffle, or mixed (one of
    the three drawn per text). A class rather than a closure so that it pickles, as DataLoader workers
    started by spawn or forkserver (macOS; Linux from Python 3.14) need."""

    KINDS = ("typos", "shuffle", "conditional_shuffle")

    def __init__(self, kind: str, rate: float = 0.1) -> None:
        if kind not in (*self.KINDS, "mixed"):
            raise ValueError(f"Unknown augmentation {kind!r}; choose from {sorted(self.KINDS) + ['mixed']}")
        self.kind, self.rate = kind, rate

    def __call__(self, text: str, rng: random.Random) -> str:
        kind = rng.choice(self.KINDS) if self.kind == "mixed" else self.kind
        if kind == "typos":
            return typos(text, self.rate, rng)
        return shuffle_words(text, rng) if kind == "shuffle" else conditional_shuffle(text, rng)


class PairTransform:
    """The ``with_transform`` function of :func:`augmented_pairs`: (text[, label]) rows -> (anchor, positive[,
    label]), the positive perturbed from a seeded random stream.

    In the calling process the stream is ``Random(seed)``. Each DataLoader worker starts with a copy of the
    transform, so copies of one stream would give every worker's batches the same noise, and every epoch's
    new workers the same noise again; a worker therefore draws from a stream of its own, seeded with ``seed``
    and the worker seed torch gives it (new for each worker of each epoch, reproducible under a fixed
    ``torch.manual_seed``)."""

    def __init__(self, column: str, perturbation: Perturbation, seed: int, label: list[str]) -> None:
        self.column, self.perturbation, self.label, self.seed = column, perturbation, label, seed
        self.rng, self.worker_seed = random.Random(seed), None

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        worker = torch.utils.data.get_worker_info()
        if worker is not None and worker.seed != self.worker_seed:
            self.rng, self.worker_seed = random.Random(f"{self.seed}/{worker.seed}"), worker.seed
        texts = batch[self.column]
        positives = [self.perturbation(text, self.rng) for text in texts]
        return {"anchor": texts, "positive": positives, **{name: batch[name] for name in self.label}}


def augmented_pairs(dataset: Dataset, kind: str, rate: float = 0.1, seed: int = 0, column: str = "text") -> Dataset:
    """``dataset[column]`` -> columns (anchor, positive) with a new perturbation drawn at each access; a
    ``label`` column (a teacher's target, pixel_st.distill) rides along, so that under a distillation loss
    the clean sentence and its perturbed copy both regress the teacher's vector of the clean one.

    The noise stream is seeded: the same sequence of accesses yields the same pairs. The transform runs
    wherever rows are read, i.e. in DataLoader workers during training, each drawing its own noise
    (:class:`PairTransform`).
    """
    label = ["label"] if "label" in dataset.column_names else []
    transform = PairTransform(column, Perturbation(kind, rate), seed, label)
    return dataset.select_columns([column, *label]).with_transform(transform)
