"""Packed training runs: only what resuming needs, in float16, and a rerun on the packed folder goes on
where the run stopped, with the same learning-rate schedule."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors import safe_open
from transformers import TrainerCallback

from pixel_st.portable_run import pack_run
from pixel_st.recipe import run_recipe


class _InterruptAt(TrainerCallback):
    """Raises after the given number of training steps, counted over all stages."""

    def __init__(self, steps: int) -> None:
        self.steps, self.seen = steps, 0

    def on_step_end(self, args, state, control, **kwargs):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt("simulated loss of the machine")


def _recipe(folder, data_dir) -> dict:
    data = {"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 64}
    return {
        "output_dir": str(folder),
        "data_dir": str(data_dir),
        "model": {"preset": "tiny", "seed": 0},
        "defaults": {"batch_size": 8, "learning_rate": 1e-3, "warmup": 2, "logging_steps": 1, "save_steps": 2, "max_steps": 6},
        "stages": [{"name": "first", "data": data}, {"name": "second", "data": data}],
    }


def _learning_rates(folder, stage: str) -> dict[int, float]:
    logs = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {entry["step"]: entry["learning_rate"] for entry in logs if entry["stage"] == stage and "learning_rate" in entry}


def _dtypes(model_file) -> set:
    with safe_open(str(model_file), "pt") as file:
        return {file.get_tensor(name).dtype for name in file.keys()}


def _size(folder) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_packed_unfinished_run_resumes_with_the_same_schedule(tmp_path, data_dir):
    reference = run_recipe(_recipe(tmp_path / "reference", data_dir))
    recipe = _recipe(tmp_path / "run", data_dir)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, callbacks=[_InterruptAt(6 + 3)])  # step 3 of the second stage; checkpoint-2 saved

    packed = pack_run(recipe, tmp_path / "packed")
    checkpoint = packed / "01-second" / "run0-plain" / "checkpoints" / "checkpoint-2"
    assert (packed / "00-first" / "DONE").is_file() and not (packed / "00-first" / "model").exists()
    assert _dtypes(checkpoint / "model.safetensors") == {torch.float16}
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=True)
    assert optimizer["state"] == {} and optimizer["param_groups"]
    assert (checkpoint / "scheduler.pt").is_file() and (checkpoint / "trainer_state.json").is_file()
    assert _size(packed) < _size(tmp_path / "run") / 4

    resumed = run_recipe({**recipe, "output_dir": str(packed)})
    rates = _learning_rates(packed, "second")
    assert sorted(rates) == [1, 2, 3, 4, 5, 6]
    assert rates == pytest.approx(_learning_rates(tmp_path / "reference", "second"))
    assert (packed / "final" / "modules.json").is_file()
    assert resumed.encode(["works"]).shape == reference.encode(["works"]).shape


def test_packed_finished_run_keeps_the_last_model_and_trains_nothing(tmp_path, data_dir):
    recipe = _recipe(tmp_path / "run", data_dir)
    trained = run_recipe(recipe)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "pixel_st.cli", "pack", str(tmp_path / "recipe.yaml"), str(tmp_path / "packed")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    packed = tmp_path / "packed"
    assert _dtypes(packed / "01-second" / "model" / "model.safetensors") == {torch.float16}
    assert not (packed / "00-first" / "model").exists() and not list(packed.rglob("checkpoint-*"))

    lines = len((packed / "metrics.jsonl").read_text().splitlines())
    final = run_recipe({**recipe, "output_dir": str(packed)})
    assert len((packed / "metrics.jsonl").read_text().splitlines()) == lines  # nothing trained again
    texts = ["A man is playing a guitar.", "The stock market fell."]
    assert torch.nn.functional.cosine_similarity(
        torch.from_numpy(final.encode(texts)), torch.from_numpy(trained.encode(texts))
    ).min() > 0.999  # the same model, through float16


def test_pack_refuses_a_missing_run_and_a_non_empty_target(tmp_path, data_dir):
    recipe = _recipe(tmp_path / "nothing-here", data_dir)
    with pytest.raises(FileNotFoundError, match="No training run"):
        pack_run(recipe, tmp_path / "packed")
    (tmp_path / "nothing-here").mkdir()
    (tmp_path / "packed").mkdir()
    (tmp_path / "packed" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is not an empty folder; pack into a new one"):
        pack_run(recipe, tmp_path / "packed")
