"""What a recipe will train, read before any model is loaded: each stage's rows, optimizer steps and the
texts the student encodes, to size a run to the time a GPU is lent for (``pixel-st train RECIPE --plan``)."""

from __future__ import annotations

import math

from pixel_st.length_sampler import text_columns
from pixel_st.recipe import recipe_data_dir, stage_dataset, stage_settings
from pixel_st.word_vectors import SAMPLES


def recipe_plan(recipe: dict) -> list[dict]:
    """One entry per stage: ``name``, ``rows``, ``texts_per_row`` (text columns, or 2 for a sentence and its
    perturbed copy; for a stage with several tasks, texts over rows seen), ``steps`` (optimizer steps of
    each run in one process, as the stock trainer counts them without ``dataloader_drop_last``) and
    ``texts`` (all runs)."""
    data_dir = recipe_data_dir(recipe)
    plan = []
    for stage in stage_settings(recipe):
        tasks = list(stage["tasks"].values()) if "tasks" in stage else [{**stage, "augmentation": stage["augmentations"][0]}]
        shapes = [_rows_and_texts_per_row(task, data_dir) for task in tasks]
        sizes = [task["batch_size"] for task in tasks]
        batches = [math.ceil(rows / size) for (rows, _), size in zip(shapes, sizes)]
        if stage["max_steps"] > 0:
            steps = stage["max_steps"]
            seen = [len(range(i, steps, len(tasks))) * size for i, size in enumerate(sizes)]  # tasks take turns
        elif len(tasks) == 1:
            steps = math.ceil(stage["epochs"] * batches[0])
            seen = [math.ceil(stage["epochs"] * shapes[0][0])]
        else:  # an epoch of round-robin batches ends when the task with the fewest batches runs out
            steps = math.ceil(stage["epochs"] * len(tasks) * min(batches))
            seen = [math.ceil(stage["epochs"] * min(batches)) * size for size in sizes]
        texts_seen = sum(rows_seen * per_row for rows_seen, (_, per_row) in zip(seen, shapes))
        plan.append({"name": stage["name"], "rows": sum(rows for rows, _ in shapes),
                     "texts_per_row": round(texts_seen / sum(seen)) if len(tasks) > 1 else shapes[0][1],
                     "steps": steps, "texts": texts_seen * len(stage["runs"])})
    return plan


def _rows_and_texts_per_row(task: dict, data_dir) -> tuple[int, int]:
    if task["data"]["type"] == "words":  # drawn words, one text each; counted without the teacher
        return task["data"].get("samples", SAMPLES), 1
    dataset = stage_dataset(task["data"], data_dir)
    return len(dataset), 2 if task["augmentation"] else len(text_columns(dataset.data.schema))


def format_plan(plan: list[dict]) -> str:
    lines = [f"{'stage':20s} {'rows':>10s} {'texts/row':>9s} {'steps':>7s} {'texts':>11s}"]
    lines += [f"{s['name']:20s} {s['rows']:10,d} {s['texts_per_row']:9d} {s['steps']:7,d} {s['texts']:11,d}" for s in plan]
    lines.append(f"{'total':20s} {'':10s} {'':9s} {sum(s['steps'] for s in plan):7,d} {sum(s['texts'] for s in plan):11,d}")
    return "\n".join(lines)
