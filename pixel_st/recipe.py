"""Run a training recipe: a YAML list of stages, each a stock SentenceTransformerTrainer run.

Read top to bottom: ``run_recipe`` loads the starting model, then for every stage builds its dataset and
loss, trains one run per augmentation (averaging their weights when there are several), saves the stage
and marks it done. The final model is the last stage's, or with ``select`` the stage that scores best on
dev (pixel_st.stage_selection). A rerun skips finished stages and resumes an unfinished run from its last
checkpoint; a finished stage whose settings the recipe has since changed stops it (``is_done``).
See ``recipes/*.yaml`` and docs/training.md for the format.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from accelerate import PartialState
from datasets import Dataset, DatasetDict, concatenate_datasets
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from pixel_st import data as loaders
from pixel_st.averaging import average_weights
from pixel_st.card import insert_section, training_section
from pixel_st.distill import distillation_dataset
from pixel_st.distill_loss import TeacherContrastiveLoss
from pixel_st.length_sampler import LengthGroupedBatchSampler
from pixel_st.model import new_model
from pixel_st.pairs import augmented_pairs
from pixel_st.renderer import TextRenderer
from pixel_st.report import load_any
from pixel_st.stage_selection import chosen_stage, score_stage, selection_files
from pixel_st.sts import read_sts
from pixel_st.task_batch_sampler import TaskSizedRoundRobinBatchSampler, valid_batch_sizes
from pixel_st.word_vectors import SAMPLES, VOCABULARY_SIZE, word_dataset

DONE = "DONE"
BOOKKEEPING = ("evaluator", "eval", "eval_steps", "save_steps", "logging_steps", "dataloader_num_workers")  # leave the weights alone
TEACHER_LOSSES = ("mse", "distill")  # losses whose targets are the teacher's embeddings
TASK_KEYS = (  # a task may set these
    "loss", "augmentation", "rate", "scale", "hardness_mode", "hardness_strength", "contrastive_weight", "mini_batch_size", "batch_size",
)
STAGE_DEFAULTS: dict[str, Any] = {
    "loss": "mnrl",
    "batch_size": 64,
    "learning_rate": 3e-5,
    "warmup": 0.1,  # a fraction of the steps, or a step count
    "epochs": 1,
    "max_steps": -1,
    "augmentation": None,
    "rate": 0.1,
    "mini_batch_size": 32,
    "dataloader_num_workers": 0,
    "length_grouped": False,  # batches of rows of similar length (pixel_st.length_sampler)
    "save_steps": 500,
    "eval_steps": 500,
    "logging_steps": 50,
    "seed": 0,
}


class JsonlLogger(TrainerCallback):
    """Appends every trainer log (loss, learning rate, eval scores) as one JSON line, with stage and run."""

    def __init__(self, path: Path, stage: str, run: str) -> None:
        self.path, self.stage, self.run = path, stage, run

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"stage": self.stage, "run": self.run, "step": state.global_step, "time": time.time(), **logs}) + "\n")


class TimeLimit(TrainerCallback):
    """Saves a checkpoint and stops training once ``deadline`` (a ``time.time()``) has passed, so that a run
    fits a fixed time slot and the next invocation resumes. Under DDP the ranks agree before stopping."""

    def __init__(self, deadline: float) -> None:
        self.deadline, self.expired = deadline, False

    def on_step_end(self, args, state, control, **kwargs):
        expired = time.time() >= self.deadline
        if dist.is_available() and dist.is_initialized():  # only then a collective (and a device sync) per step
            flag = torch.tensor(float(expired), device=PartialState().device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            expired = bool(flag.item())
        if expired:
            self.expired = control.should_save = control.should_training_stop = True


def load_recipe(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as file:
        recipe = yaml.safe_load(file)
    if not isinstance(recipe, dict) or not recipe.get("stages"):
        raise ValueError(f"{path}: a recipe needs an 'output_dir', a 'model' and a list of 'stages'")
    return recipe


def starting_model(spec: dict) -> SentenceTransformer:
    """``{preset: small}`` (fresh; other keys but ``seed`` are renderer settings, e.g. ``word_aligned: true``),
    ``{convert: Team-PIXEL/pixel-base}`` or ``{path: folder-or-hub-id}``."""
    if "preset" in spec:
        settings = {key: value for key, value in spec.items() if key not in ("preset", "seed")}
        unknown = sorted(set(settings) - set(inspect.signature(TextRenderer).parameters))
        if unknown:
            raise ValueError(f"model: {unknown} are not renderer settings (a fresh model takes preset, seed and those)")
        return new_model(spec["preset"], seed=spec.get("seed", 0), **settings)
    if "convert" in spec:
        from pixel_st.convert import convert

        return convert(spec["convert"], max_seq_length=spec.get("max_seq_length", 64))
    if "path" in spec:
        return SentenceTransformer(spec["path"], trust_remote_code=True)
    raise ValueError(f"model: expected 'preset', 'convert' or 'path', got {sorted(spec)}")


def recipe_data_dir(recipe: dict) -> Path:
    """The folder stage paths are relative to: the recipe's ``data_dir``, else $PIXEL_ST_DATA, else ../shared/data."""
    return Path(recipe.get("data_dir") or os.environ.get("PIXEL_ST_DATA", "../shared/data"))


def _paths(spec: dict, data_dir: Path) -> list[Path]:
    paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
    return [path if path.is_absolute() else data_dir / path for path in map(Path, paths)]


def stage_dataset(spec: dict, data_dir: Path) -> Dataset:
    """One dataset from ``{type, path (one or a list), ...}``; several paths are concatenated. ``exclude``
    (one file or a list) drops the rows that hold a sentence of those files, after ``limit``."""
    kind, limit = spec["type"], spec.get("limit")
    english = _paths({"path": spec["english"]}, data_dir)[0] if "english" in spec else None
    parts = []
    for path in _paths(spec, data_dir):
        if kind == "sentences":
            parts.append(loaders.sentences(path, limit, spec.get("languages")))
        elif kind == "spans":
            parts.append(loaders.span_pairs(path, spec.get("window", 8), limit))
        elif kind == "nli":
            parts.append(loaders.nli_triplets(path, spec.get("negatives", True), limit))
        elif kind == "parallel":
            parts.append(loaders.parallel_pairs(path, target=spec.get("target"), limit=limit))
        elif kind == "translations":
            if english is None:
                raise ValueError("translations data need 'english': the STS file the 'path' files translate")
            parts.append(loaders.translated_pairs(english, path, limit))
        elif kind == "sts":
            parts.append(loaders.similar_pairs(path, spec.get("min_score", loaders.MIN_SCORE), limit, english))
        elif kind == "hub":
            parts.append(loaders.hub(str(spec["path"]), spec.get("split", "train")))
        elif kind == "words":  # the sentences whose vocabulary word_dataset draws from
            parts.append(loaders.sentences(path, limit, spec.get("languages")))
        else:
            raise ValueError(f"Unknown data type {kind!r}: sentences, spans, nli, parallel, translations, sts, hub or words")
    dataset = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    if "exclude" not in spec:
        return dataset
    excluded = [text for path in _paths({"path": spec["exclude"]}, data_dir) for text in loaders.sentences(path)["text"]]
    return loaders.without_texts(dataset, excluded)


def training_dataset(task: dict, data_dir: Path, teacher: SentenceTransformer | None, cache_dir: str) -> Dataset:
    """A stage's (or one of its tasks') rows with the teacher's targets where its loss needs them:
    ``words`` data become words labelled with the teacher's centred word vectors (pixel_st.word_vectors),
    other data of a teacher loss get the teacher's embedding of each row (pixel_st.distill)."""
    if task["loss"] in TEACHER_LOSSES and teacher is None:
        raise ValueError(f"stage {task['name']}: loss {task['loss']} needs a top-level 'teacher'")
    spec = task["data"]
    if spec["type"] == "words":
        if task["loss"] not in TEACHER_LOSSES:
            raise ValueError(f"stage {task['name']}: words data need a teacher loss ({' or '.join(TEACHER_LOSSES)})")
        texts = stage_dataset(spec, data_dir)["text"][:]
        return word_dataset(teacher, texts, spec.get("vocabulary", VOCABULARY_SIZE), spec.get("samples", SAMPLES), seed=task["seed"], cache_dir=cache_dir)
    dataset = stage_dataset(spec, data_dir)
    return distillation_dataset(teacher, dataset, cache_dir=cache_dir) if task["loss"] in TEACHER_LOSSES else dataset


def ranking_options(stage: dict) -> dict:
    """The stock ranking losses' keywords a stage (or task) may set: ``scale`` and the hardness weighting of
    negatives (``hardness_mode``, ``hardness_strength``; off unless set)."""
    return {
        "scale": stage.get("scale", 20.0),
        "hardness_mode": stage.get("hardness_mode"),
        "hardness_strength": stage.get("hardness_strength", 0.0),
    }


def stage_loss(name: str, model: SentenceTransformer, stage: dict):
    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, **ranking_options(stage))
    if name == "symmetric_mnrl":
        return losses.MultipleNegativesRankingLoss(
            model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction", **ranking_options(stage)
        )
    if name == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=stage["mini_batch_size"], **ranking_options(stage))
    if name == "mse":
        return losses.MSELoss(model)
    if name == "distill":
        return TeacherContrastiveLoss(model, scale=stage.get("scale", 20.0), contrastive_weight=stage.get("contrastive_weight", 1.0))
    raise ValueError(f"Unknown loss {name!r}: mnrl, symmetric_mnrl, cached_mnrl, mse or distill")


def dev_evaluator(path: Path | None, name: str) -> EmbeddingSimilarityEvaluator | None:
    if path is None:
        return None
    first, second, scores = read_sts(path)
    return EmbeddingSimilarityEvaluator(first, second, scores, name=name)


def stage_settings(recipe: dict) -> list[dict]:
    """Every stage's settings (STAGE_DEFAULTS, then the recipe's ``defaults``, then its own keys), with its
    folder name (``dir``), its augmentations (one run each) and their folder names (``runs``); the first
    stage's also hold the recipe's starting ``model`` (``start_model``), so that ``is_done`` sees it change.

    A stage with ``tasks`` (a mapping of names to ``data`` and TASK_KEYS) trains one run on all of them at
    once, batches taken from each task in turn, each with its own loss (the stock trainer's multi-dataset
    training) and batch size (pixel_st.task_batch_sampler); a task inherits the stage's TASK_KEYS it does not
    set.
    """
    stages = []
    for index, raw in enumerate(recipe["stages"]):
        stage = {**STAGE_DEFAULTS, **recipe.get("defaults", {}), **raw}
        stage.setdefault("name", f"stage{index}")
        stage["dir"] = f"{index:02d}-{stage['name']}"
        augmentation = stage["augmentation"]
        stage["augmentations"] = augmentation if isinstance(augmentation, list) else [augmentation]
        stage["runs"] = [f"run{i}-{kind or 'plain'}" for i, kind in enumerate(stage["augmentations"])]
        if index == 0:  # the first stage trains the recipe's starting model: another start is another stage
            stage["start_model"] = recipe.get("model")
        if "tasks" in raw:
            if "data" in raw or len(stage["augmentations"]) > 1:
                raise ValueError(f"stage {stage['name']}: a stage with 'tasks' takes its data and augmentation from each task")
            inherited = {key: stage[key] for key in TASK_KEYS if key in stage}
            stage["tasks"] = {
                name: {**inherited, **task, "name": f"{stage['name']}/{name}", "seed": stage["seed"]} for name, task in raw["tasks"].items()
            }
            sizes = [task["batch_size"] for task in stage["tasks"].values()]
            if not valid_batch_sizes(sizes):
                raise ValueError(f"stage {stage['name']}: a task's batch_size must be a positive integer, got {sizes}")
            stage["runs"] = ["run0-" + "+".join(stage["tasks"])]
        stages.append(stage)
    return stages


def newest_checkpoint(run_dir: Path) -> str | None:
    """The trainer checkpoint a run resumes from, if it has one."""
    checkpoints = run_dir / "checkpoints"
    return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None


def train_run(
    model: SentenceTransformer, stage: dict, dataset: Dataset, run_dir: Path, log_path: Path, callbacks: list
) -> None:
    """One stock trainer run, training ``model`` in place; resumes from the newest checkpoint in ``run_dir``
    if there is one."""
    checkpoints = run_dir / "checkpoints"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=stage["batch_size"],
        learning_rate=float(stage["learning_rate"]),
        warmup_steps=stage["warmup"],
        num_train_epochs=stage["epochs"],
        max_steps=stage["max_steps"],
        logging_steps=stage["logging_steps"],
        save_strategy="steps",
        save_steps=stage["save_steps"],
        save_total_limit=2,
        eval_strategy="steps" if stage.get("evaluator") else "no",
        eval_steps=stage["eval_steps"],
        dataloader_num_workers=stage["dataloader_num_workers"],
        batch_sampler=LengthGroupedBatchSampler if stage["length_grouped"] else BatchSamplers.BATCH_SAMPLER,
        multi_dataset_batch_sampler=(
            partial(TaskSizedRoundRobinBatchSampler, batch_sizes=[task["batch_size"] for task in stage["tasks"].values()])
            if "tasks" in stage
            else MultiDatasetBatchSamplers.ROUND_ROBIN
        ),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        seed=stage["seed"],
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
    )
    if "tasks" in stage:
        loss = {name: stage_loss(task["loss"], model, task) for name, task in stage["tasks"].items()}
    else:
        loss = stage_loss(stage["loss"], model, stage)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=stage.get("evaluator"),
        callbacks=[JsonlLogger(log_path, stage["name"], run_dir.name), *callbacks],
    )
    trainer.train(resume_from_checkpoint=newest_checkpoint(run_dir))


def run_recipe(recipe: dict, callbacks: list | None = None, time_limit: float | None = None) -> SentenceTransformer | None:
    """Run every stage of ``recipe``; return the final model (also saved under ``output_dir/final``, its card
    with a table of the stages: pixel_st.card).

    With ``time_limit`` (seconds) training stops at the first step past it, with a checkpoint, and the
    function returns None; calling it again resumes there.
    """
    clock = TimeLimit(time.time() + time_limit) if time_limit else None
    state = PartialState()  # under torchrun: one process per device; rank 0 writes, the others wait
    output_dir = Path(recipe["output_dir"])
    data_dir = recipe_data_dir(recipe)
    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = output_dir / "metrics.jsonl"
    teacher = load_any(recipe["teacher"]) if recipe.get("teacher") else None
    selection = selection_files(recipe["select"], data_dir) if recipe.get("select") else None
    model_source = None  # None: the recipe's starting model; else the folder of the last finished stage
    stages = stage_settings(recipe)
    for stage in stages:
        stage_dir = output_dir / stage["dir"]
        if is_done(stage_dir, stage):
            model_source = stage_dir / "model"
            continue
        tasks = stage.get("tasks", {None: stage})
        with state.main_process_first():  # rank 0 fills the teacher cache, the others read it
            datasets = {name: training_dataset(task, data_dir, teacher, str(output_dir / "teacher-cache")) for name, task in tasks.items()}
        eval_path = stage.get("eval")
        stage["evaluator"] = dev_evaluator(data_dir / eval_path if eval_path else None, f"{stage['name']}-dev")
        runs = []
        for run_index, (run_name, augmentation) in enumerate(zip(stage["runs"], stage["augmentations"])):
            run_dir = stage_dir / run_name
            if is_done(run_dir, stage):
                runs.append(SentenceTransformer(str(run_dir / "model"), trust_remote_code=True))
                continue
            checkpoint = newest_checkpoint(run_dir)
            if checkpoint:  # a resumed run starts from its own weights (a packed run holds nothing else)
                model = SentenceTransformer(checkpoint, trust_remote_code=True)
            elif model_source is None:
                model = starting_model(recipe["model"])
            else:
                model = SentenceTransformer(str(model_source), trust_remote_code=True)
            if any(task["loss"] in TEACHER_LOSSES for task in tasks.values()) and model.get_embedding_dimension() != teacher.get_embedding_dimension():
                raise ValueError(
                    f"stage {stage['name']}: student dimension {model.get_embedding_dimension()} != teacher "
                    f"dimension {teacher.get_embedding_dimension()}; distillation needs them equal "
                    "(the 'small' preset is 384 wide, like all-MiniLM-L6-v2)"
                )
            if "tasks" in stage:
                run_data = DatasetDict({name: _augmented(datasets[name], task, task["augmentation"], run_index) for name, task in tasks.items()})
            else:
                run_data = _augmented(datasets[None], stage, augmentation, run_index)
            train_run(model, stage, run_data, run_dir, log_path, [*(callbacks or []), *([clock] if clock else [])])
            if clock and clock.expired:
                return None
            if len(stage["runs"]) > 1:
                _save(state, model, run_dir, stage)
            runs.append(model)
        model = average_weights(runs) if len(runs) > 1 else runs[0]
        _save(state, model, stage_dir, stage)
        if stage["evaluator"] is not None and state.is_main_process:
            scores = stage["evaluator"](model)
            with open(log_path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"stage": stage["name"], "final": True, **scores}) + "\n")
        if selection is not None and state.is_main_process:
            with open(log_path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"stage": stage["name"], **score_stage(model, selection)}) + "\n")
        model_source = stage_dir / "model"
    chosen = None
    if selection is not None:  # the best-scoring stage whose model is here (a packed run keeps only some)
        state.wait_for_everyone()  # rank 0 has logged every score
        chosen, model_source = chosen_stage(output_dir, stages)
    final = SentenceTransformer(str(model_source), trust_remote_code=True)
    if state.is_main_process:
        final.save(str(output_dir / "final"))
        insert_section(output_dir / "final", training_section(stages, recipe["model"], log_path, chosen))
    state.wait_for_everyone()
    return final


def _augmented(dataset: Dataset, task: dict, augmentation: str | None, run_index: int) -> Dataset:
    """(sentence, perturbed copy) pairs under ``augmentation``, or the rows as they are without one."""
    return augmented_pairs(dataset, augmentation, task["rate"], task["seed"] + run_index) if augmentation else dataset


def _save(state: PartialState, model: SentenceTransformer, folder: Path, stage: dict) -> None:
    """Save ``folder/model`` and mark ``folder`` done, from rank 0 only; every process waits for it."""
    if state.is_main_process:
        model.save(str(folder / "model"))
        (folder / DONE).write_text(json.dumps(_settings(stage), indent=1, sort_keys=True))
    state.wait_for_everyone()


def is_done(folder: Path, stage: dict) -> bool:
    """Whether ``folder`` (a stage's or a run's) is marked done. Its ``DONE`` marker holds the settings it was
    trained with; if the recipe now says otherwise, reusing it would silently train the later stages on a stale
    model, so that is an error. (Markers written before the settings were recorded are empty and accepted.)"""
    marker = folder / DONE
    if not marker.is_file():
        return False
    text = marker.read_text()
    if text:
        recorded, current = json.loads(text), _settings(stage)
        changed = sorted(key for key in recorded.keys() | current.keys() if recorded.get(key) != current.get(key))
        if changed:
            raise ValueError(
                f"stage {stage['name']}: {folder} was trained with other settings ({', '.join(changed)} changed in the "
                "recipe); delete that folder and the later stages' to train them again, or restore the recipe"
            )
    return True


def _settings(stage: dict) -> dict:
    """The stage settings that shape its weights (not BOOKKEEPING), as a ``DONE`` marker holds them (JSON)."""
    return json.loads(json.dumps({key: value for key, value in stage.items() if key not in BOOKKEEPING}, sort_keys=True))
