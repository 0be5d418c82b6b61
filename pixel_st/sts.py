"""The STS suite: read uniform STS files, score a model (Spearman x 100 of cosine), clean or perturbed."""

from __future__ import annotations

import csv
import fnmatch
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pixel_st.perturb import shuffle_words, typos
from pixel_st.textfiles import open_text, tsv_header

if TYPE_CHECKING:  # reading STS files needs no torch (examples/render_digest.py runs in the GPU kit alone)
    from sentence_transformers import SentenceTransformer

HEADER = ["sentence1", "sentence2", "score"]

# name -> function(text, rng): the robustness conditions of `pixel-st evaluate --robustness`
CONDITIONS: dict[str, Callable[[str, random.Random], str] | None] = {
    "clean": None,
    "typos 5%": lambda text, rng: typos(text, 0.05, rng),
    "typos 10%": lambda text, rng: typos(text, 0.10, rng),
    "typos 20%": lambda text, rng: typos(text, 0.20, rng),
    "word shuffle": shuffle_words,
}


def read_sts(path: str | Path) -> tuple[list[str], list[str], list[float]]:
    """``sentence1<TAB>sentence2<TAB>score`` (gzipped or plain, header line, no quoting)."""
    with open_text(path) as file:
        rows = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header != HEADER:
            raise ValueError(f"{path}: expected header {HEADER}, got {header}")
        first, second, scores = [], [], []
        for row in rows:
            if len(row) == 3:
                first.append(row[0])
                second.append(row[1])
                scores.append(float(row[2]))
    return first, second, scores


def find_sts_files(folder: str | Path, include: str = "*") -> dict[str, Path]:
    """Every file under ``folder`` in the uniform format whose relative path matches ``include``;
    named by that path without ``.tsv.gz`` (e.g. ``sts/stsb_multi_mt/stsb_de_dev``)."""
    folder = Path(folder)
    found = {}
    for path in sorted(folder.rglob("*.tsv*")):
        name = str(path.relative_to(folder)).removesuffix(".gz").removesuffix(".tsv")
        if not fnmatch.fnmatch(name, include):
            continue
        if tsv_header(path) == HEADER:
            found[name] = path
    return found


def spearman(
    model: SentenceTransformer,
    path: str | Path,
    condition: Callable[[str, random.Random], str] | None = None,
    seed: int = 0,
    max_pairs: int | None = None,
    batch_size: int = 64,
) -> float:
    """Spearman x 100 between cosine similarity and gold scores; ``condition`` perturbs both sentences
    (seeded per pair, so every model sees the same noise)."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    first, second, scores = (column[:max_pairs] for column in read_sts(path))
    if condition is not None:
        first = [condition(text, random.Random(f"{seed}-{i}-a")) for i, text in enumerate(first)]
        second = [condition(text, random.Random(f"{seed}-{i}-b")) for i, text in enumerate(second)]
    evaluator = EmbeddingSimilarityEvaluator(first, second, scores, batch_size=batch_size, name="sts")
    return 100 * evaluator(model)["sts_spearman_cosine"]
