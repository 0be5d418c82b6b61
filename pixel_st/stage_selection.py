"""Which finished stage of a recipe becomes its final model, when the recipe says ``select``.

``select`` maps group names to STS dev files (paths or globs relative to ``data_dir``), e.g. English and
the multilingual files. Each stage's model is scored at the end of the stage: the mean Spearman of each
group's files, then the mean over the groups, so every group weighs the same whatever its file count.
The scores go into ``metrics.jsonl``; the final model is the stage with the best score (the later one on a
tie), so a stage that does not help on dev is left out of the result.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sentence_transformers import SentenceTransformer

from pixel_st.sts import spearman

logger = logging.getLogger(__name__)

SCORE = "select_score"


def selection_files(select: dict[str, list[str]], data_dir: Path) -> dict[str, list[Path]]:
    """Each group's files, globs expanded; a pattern that matches nothing is an error."""
    if not isinstance(select, dict) or not select:
        raise ValueError(f"select: expected groups of dev files, e.g. {{english: [sts/stsb_en_dev.tsv.gz]}}, got {select!r}")
    groups = {}
    for group, patterns in select.items():
        files = []
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            matches = sorted(data_dir.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"select: {group}: nothing matches {pattern!r} under {data_dir}")
            files += matches
        groups[group] = files
    return groups


def score_stage(model: SentenceTransformer, groups: dict[str, list[Path]]) -> dict:
    """The Spearman correlation of the cosine with the gold scores on every file (keyed by its path), each
    group's mean, and the mean over the groups under ``SCORE``."""
    files, means = {}, {}
    for group, paths in groups.items():
        for path in paths:
            # batch 16, the stock evaluator's, so a file's score equals the stage's own `eval` score of it
            files[str(path)] = spearman(model, path, batch_size=16) / 100
        means[group] = sum(files[str(path)] for path in paths) / len(paths)
    return {"files": files, "groups": means, SCORE: sum(means.values()) / len(means)}


def best_stage(log_path: Path, available: set[str]) -> str:
    """The ``available`` stage with the best logged score; a better one that is not available is reported."""
    scores = {}
    for line in log_path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if SCORE in entry:  # a diverged stage scores NaN: never the best
            scores[entry["stage"]] = entry[SCORE] if entry[SCORE] == entry[SCORE] else float("-inf")
    ranked = sorted(scores, key=lambda name: scores[name])  # ties: the later stage, as sorted() is stable
    usable = [name for name in ranked if name in available]
    if not usable:
        raise FileNotFoundError(f"select: no stage with a score in {log_path} has its model in the run folder")
    if usable[-1] != ranked[-1]:
        logger.warning("select: stage %s scored best (%.4f) but its model is not in the run folder (packed "
                       "away?); the final model is stage %s's (%.4f)", ranked[-1], scores[ranked[-1]], usable[-1],
                       scores[usable[-1]])
    return usable[-1]


def chosen_stage(run_dir: Path, stages: list[dict]) -> tuple[str, Path]:
    """The best-scoring stage whose model is in ``run_dir`` (``stages`` as ``recipe.stage_settings`` gives
    them), and that model's folder."""
    folders = {stage["name"]: run_dir / stage["dir"] / "model" for stage in stages}
    name = best_stage(run_dir / "metrics.jsonl", {name for name, folder in folders.items() if folder.is_dir()})
    return name, folders[name]
