"""Sections pixel_st adds to sentence-transformers' generated model card (README.md of a model folder).

The stock card describes the last trainer run only; a recipe's final model also gets a table of every
stage (data, loss, steps, dev curve) read from the run's ``metrics.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pixel_st.stage_selection import SCORE

FRONT_MATTER_END = "\n---\n"


def insert_section(folder: str | Path, markdown: str) -> None:
    """Put ``markdown`` right after the card's YAML front matter (at the top if it has none)."""
    path = Path(folder) / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    front, separator, body = text.partition(FRONT_MATTER_END) if text.startswith("---") else ("", "", text)
    path.write_text(front + separator + "\n" + markdown.strip() + "\n\n" + body.lstrip("\n"), encoding="utf-8")


def _data(spec: dict) -> str:
    paths = spec.get("path", [])
    names = [Path(path).name for path in (paths if isinstance(paths, list) else [paths])]
    extras = [f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}"
              for key in ("limit", "languages", "target", "english", "min_score", "vocabulary", "samples", "exclude") if (value := spec.get(key))]
    return f"{spec['type']}: " + ", ".join(names) + (f" ({'; '.join(extras)})" if extras else "")


def _dev_scores(metrics_path: Path) -> dict[str, tuple[list[str], str]]:
    """Per stage: the dev Spearman x 100 at each evaluation (``step: score``, prefixed by the run where a
    stage has several) and at the stage's end. A step evaluated again after a resume counts once."""
    curves: dict[str, dict[tuple[str, int], float]] = {}
    finals: dict[str, str] = {}
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        for key, value in entry.items():
            if key.endswith("_spearman_cosine") and entry.get("final"):
                finals[entry["stage"]] = f"{100 * value:.1f}"
            elif key.endswith("_spearman_cosine") and key.startswith("eval_"):
                curves.setdefault(entry["stage"], {})[entry.get("run", ""), entry["step"]] = value
    scores = {}
    for stage in {*curves, *finals}:
        curve = curves.get(stage, {})
        several = len({run for run, _ in curve}) > 1
        points = [f"{run + ' ' if several else ''}{step}: {100 * value:.1f}" for (run, step), value in curve.items()]
        scores[stage] = (points, finals.get(stage, ""))
    return scores


def _selection(metrics_path: Path, chosen: str) -> str:
    """A sentence naming the stage whose model is the final one and every stage's ``select`` score."""
    scored = [entry for entry in map(json.loads, metrics_path.read_text(encoding="utf-8").splitlines()) if SCORE in entry]
    per_stage = "; ".join(
        f"{entry['stage']} {100 * entry[SCORE]:.1f} ("
        + ", ".join(f"{group} {100 * value:.1f}" for group, value in entry["groups"].items()) + ")"
        for entry in scored
    )
    return (f"The final model is stage **{chosen}**'s: the best `select` score, the mean over the recipe's "
            f"groups of dev files of each group's mean Spearman x 100. Per stage: {per_stage}.")


def _loss(stage: dict) -> str:
    """A stage's (or task's) loss with its augmentation, its scale if set and its hardness weighting."""
    loss, augmentations = stage["loss"], stage.get("augmentations", [stage["augmentation"]])
    if len(augmentations) > 1:
        loss += f", one run per augmentation ({', '.join(augmentations)}, rate {stage['rate']}), weights averaged"
    elif augmentations[0]:
        loss += f", augmentation {augmentations[0]} {stage['rate']}"
    if "scale" in stage:
        loss += f", scale {stage['scale']}"
    if stage.get("hardness_mode"):
        loss += f", hardness {stage['hardness_mode']} {stage.get('hardness_strength', 0.0)}"
    return loss


def training_section(stages: list[dict], start: dict, metrics_path: Path, chosen: str | None = None) -> str:
    """Markdown for a recipe run: ``stages`` as ``recipe.stage_settings`` gives them, ``start`` the recipe's
    ``model`` entry, ``metrics_path`` the run's log, ``chosen`` the stage picked by ``select`` (if any)."""
    scores = _dev_scores(metrics_path) if metrics_path.is_file() else {}
    starting = ", ".join(f"{key} {value}" for key, value in start.items())
    lines = [
        "## Training stages (pixel-st train)",
        "",
        f"Trained by `pixel-st train` from ({starting}) through {len(stages)} stage{'s' if len(stages) != 1 else ''}, "
        "each a stock SentenceTransformerTrainer run starting from the previous stage's model; the generated sections "
        "below describe one stage's trainer run only. Dev: Spearman x 100 of cosine on the stage's `eval` file.",
        "",
        "| # | stage | loss | data | length | batch | lr | dev file | dev at evaluation steps | dev at the end |",
        "| ---: | --- | --- | --- | --- | ---: | ---: | --- | --- | ---: |",
    ]
    for number, stage in enumerate(stages, 1):
        if "tasks" in stage:
            loss = "; ".join(f"{name}: {_loss(task)}" for name, task in stage["tasks"].items()) + "; batches in turn"
            data = "; ".join(f"{name}: {_data(task['data'])}" for name, task in stage["tasks"].items())
            batch = " / ".join(str(task["batch_size"]) for task in stage["tasks"].values())
        else:
            loss, data, batch = _loss(stage), _data(stage["data"]), str(stage["batch_size"])
        length = f"{stage['max_steps']} steps" if stage["max_steps"] > 0 else f"{stage['epochs']} epoch{'s' if stage['epochs'] != 1 else ''}"
        length += f", seed {stage['seed']}" if stage.get("seed") else ""  # the default, 0, goes unsaid
        curve, final = scores.get(stage["name"], ([], ""))
        lines.append(
            f"| {number} | {stage['name']} | {loss} | {data} | {length} | {batch} | "
            f"{stage['learning_rate']} | {Path(stage.get('eval') or '-').name} | {', '.join(curve)} | {final} |"
        )
    if chosen:
        lines += ["", _selection(metrics_path, chosen)]
    return "\n".join(lines)
