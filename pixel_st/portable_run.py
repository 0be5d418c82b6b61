"""A training run packed to travel between machines (a lent GPU's calls carry ≤ 64 MiB, files ≤ 16 MB).

``pack_run`` copies a recipe's output folder down to what ``run_recipe`` needs to go on where it stopped:
the log, the ``DONE`` markers of finished stages and runs, and only the weights it resumes from, in
float16 (for a finished recipe with ``select``, those of the stage its final model comes from). An
unfinished run keeps its newest trainer checkpoint without the optimizer's moments (two float32 copies of
the model): the step, learning-rate schedule and random states travel, and Adam's moments start again
from zero when the run resumes. Point the recipe's ``output_dir`` at the packed
folder (or unpack it in place) and ``pixel-st train`` resumes from it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from pixel_st.folders import require_new_folder
from pixel_st.recipe import DONE, is_done, newest_checkpoint, stage_settings
from pixel_st.shipping import save_fp16
from pixel_st.stage_selection import chosen_stage

TRAINER_STATE = ("trainer_state.json", "scheduler.pt", "training_args.bin")  # plus rng_state*.pth
OPTIMIZER = "optimizer.pt"


def pack_run(recipe: dict, out_dir: str | Path) -> Path:
    """Write the packed copy of ``recipe``'s output folder to ``out_dir`` (which must be new or empty)."""
    run_dir, out = Path(recipe["output_dir"]), Path(out_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"No training run at {run_dir} (the recipe's output_dir)")
    require_new_folder(out, "pack")
    out.mkdir(parents=True, exist_ok=True)
    if (run_dir / "metrics.jsonl").is_file():
        shutil.copy2(run_dir / "metrics.jsonl", out / "metrics.jsonl")
    source, needs_source = None, True  # the model the next run would start from, and whether one will
    stages, finished = stage_settings(recipe), True
    for stage in stages:
        stage_dir = run_dir / stage["dir"]
        if is_done(stage_dir, stage):
            _copy_marker(stage_dir, out / stage["dir"])
            source = stage_dir / "model"
            continue
        needs_source, finished = False, False
        for run_name in stage["runs"]:
            run, packed = stage_dir / run_name, out / stage["dir"] / run_name
            checkpoint = newest_checkpoint(run)
            if is_done(run, stage):  # a finished run of a stage that averages several
                _copy_marker(run, packed)
                _save_half(run / "model", packed / "model")
            elif checkpoint:
                _pack_checkpoint(Path(checkpoint), packed / "checkpoints" / Path(checkpoint).name)
            else:
                needs_source = True
        break
    if finished and recipe.get("select"):  # the stage the final model comes from, not the last one
        source = chosen_stage(run_dir, stages)[1]
    if needs_source and source is not None:
        _save_half(source, out / source.relative_to(run_dir))
    return out


def _copy_marker(folder: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / DONE, out / DONE)


def _save_half(model_dir: Path, out: Path) -> None:
    save_fp16(SentenceTransformer(str(model_dir), trust_remote_code=True), str(out))


def _pack_checkpoint(checkpoint: Path, out: Path) -> None:
    """The checkpoint's model in float16 and the trainer's state; the optimizer keeps its settings
    (``param_groups``, which the trainer needs to load the schedule) and drops its per-parameter moments."""
    _save_half(checkpoint, out)
    for path in checkpoint.iterdir():
        if path.name in TRAINER_STATE or path.name.startswith("rng_state"):
            shutil.copy2(path, out / path.name)
    if (checkpoint / OPTIMIZER).is_file():
        optimizer = torch.load(checkpoint / OPTIMIZER, map_location="cpu", weights_only=True)
        torch.save({"state": {}, "param_groups": optimizer["param_groups"]}, out / OPTIMIZER)
