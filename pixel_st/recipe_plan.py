"""What a recipe will train, read before any model is loaded: each stage's rows, optimizer steps and the
texts the student encodes, to size a run to the time a GPU is lent for (``pixel-st train RECIPE --plan``)."""

from __future__ import annotations

import math

from pixel_st.length_sampler import text_columns
from pixel_st.recipe import recipe_data_dir, stage_dataset, stage_settings


def recipe_plan(recipe: dict) -> list[dict]:
    """One entry per stage: ``name``, ``rows``, ``texts_per_row`` (text columns, or 2 for a sentence and its
    perturbed copy), ``steps`` (optimizer steps of each run in one process, as the stock trainer counts
    them without ``dataloader_drop_last``) and ``texts`` (all runs)."""
    data_dir = recipe_data_dir(recipe)
    plan = []
    for stage in stage_settings(recipe):
        dataset = stage_dataset(stage["data"], data_dir)
        rows = len(dataset)
        texts_per_row = 2 if stage["augmentations"] != [None] else len(text_columns(dataset.data.schema))
        if stage["max_steps"] > 0:
            steps = stage["max_steps"]
            rows_seen = steps * stage["batch_size"]
        else:
            steps = math.ceil(stage["epochs"] * math.ceil(rows / stage["batch_size"]))
            rows_seen = math.ceil(stage["epochs"] * rows)
        texts = rows_seen * texts_per_row * len(stage["runs"])
        plan.append({"name": stage["name"], "rows": rows, "texts_per_row": texts_per_row, "steps": steps, "texts": texts})
    return plan


def format_plan(plan: list[dict]) -> str:
    lines = [f"{'stage':20s} {'rows':>10s} {'texts/row':>9s} {'steps':>7s} {'texts':>11s}"]
    lines += [f"{s['name']:20s} {s['rows']:10,d} {s['texts_per_row']:9d} {s['steps']:7,d} {s['texts']:11,d}" for s in plan]
    lines.append(f"{'total':20s} {'':10s} {'':9s} {sum(s['steps'] for s in plan):7,d} {sum(s['texts'] for s in plan):11,d}")
    return "\n".join(lines)
