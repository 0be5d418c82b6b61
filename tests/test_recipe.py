"""The training curriculum: stage data and losses, weight averaging, resumption, DDP, workers."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest
import torch
import yaml
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer import SentenceTransformerDataCollator
from transformers import TrainerCallback

from pixel_st import new_model
from pixel_st.averaging import average_weights
from pixel_st.data import read_tsv, without_texts
from pixel_st.distill import distillation_dataset, teacher_embeddings
from pixel_st.pairs import augmented_pairs
from pixel_st.recipe import (
    STAGE_DEFAULTS,
    TEACHER_LOSSES,
    run_recipe,
    stage_dataset,
    stage_loss,
    stage_settings,
    train_run,
    training_dataset,
)

STAGES = {
    "distill": ({"type": "sentences", "path": "sts/stsb_en_train.tsv.gz", "limit": 64}, "mse", None),
    "distill-contrastive": ({"type": "parallel", "path": "parallel/en-de.tsv.gz", "limit": 64}, "distill", None),
    "distill-typos": ({"type": "sentences", "path": "sts/stsb_en_train.tsv.gz", "limit": 64}, "distill", "typos"),
    "visual": ({"type": "sentences", "path": "corpus/enwiki_sentences.txt.gz", "limit": 64}, "mnrl", "mixed"),
    "topical": ({"type": "spans", "path": "corpus/enwiki_sentences.txt.gz", "limit": 64}, "symmetric_mnrl", None),
    "reasoning": ({"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 64}, "cached_mnrl", None),
    "cross-lingual": ({"type": "parallel", "path": ["parallel/en-de.tsv.gz", "parallel/en-ru.tsv.gz"], "limit": 32},
                      "mnrl", None),
}


def _eval_loss(model, loss, dataset) -> float:
    args = SentenceTransformerTrainingArguments(output_dir="unused", per_device_eval_batch_size=16, report_to="none", use_cpu=True)
    return SentenceTransformerTrainer(model=model, args=args, eval_dataset=dataset, loss=loss).evaluate()["eval_loss"]


@pytest.mark.parametrize("stage_name", list(STAGES))
def test_each_stage_type_lowers_its_loss(stage_name, data_dir, tmp_path):
    data_spec, loss_name, augmentation = STAGES[stage_name]
    model = new_model("tiny", seed=0)
    dataset = stage_dataset(data_spec, data_dir)
    if loss_name in TEACHER_LOSSES:
        teacher = new_model("tiny", seed=1)
        dataset = distillation_dataset(teacher, dataset)
    train_data = augmented_pairs(dataset, augmentation, 0.1, seed=0) if augmentation else dataset
    fixed = Dataset.from_list([train_data[i] for i in range(len(train_data))])  # one draw of the noise
    stage = {**STAGE_DEFAULTS, "name": stage_name, "loss": loss_name, "batch_size": 16, "learning_rate": 1e-3,
             "epochs": 4, "mini_batch_size": 4, "logging_steps": 100, "save_steps": 1000, "evaluator": None}
    before = _eval_loss(model, stage_loss(loss_name, model, stage), fixed)
    train_run(model, stage, train_data, tmp_path, tmp_path / "log.jsonl", [])
    after = _eval_loss(model, stage_loss(loss_name, model, stage), fixed)
    assert after < before * 0.95, (before, after)  # deterministic eval loss on a fixed draw of the data


def test_cached_mnrl_matches_mnrl_loss(data_dir):
    """CachedMNRL trims mask columns per mini-batch but not pixel_values; the encoder must give the same loss."""
    model = new_model("tiny", seed=0)
    dataset = stage_dataset({"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 32}, data_dir)
    stage = {**STAGE_DEFAULTS, "mini_batch_size": 3}
    full = _eval_loss(model, stage_loss("mnrl", model, stage), dataset)
    cached = _eval_loss(model, stage_loss("cached_mnrl", model, stage), dataset)
    assert cached == pytest.approx(full, abs=1e-4)


@pytest.mark.parametrize("loss_name", ["mnrl", "symmetric_mnrl", "cached_mnrl"])
def test_hardness_keys_reach_the_stock_ranking_losses(loss_name, data_dir):
    """``hardness_mode``/``hardness_strength`` weight the in-batch negatives by their similarity: the loss on
    the same batch rises, and a mode the stock loss does not know is refused."""
    model = new_model("tiny", seed=0)
    dataset = stage_dataset({"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 32}, data_dir)
    stage = {**STAGE_DEFAULTS, "mini_batch_size": 8}
    plain = _eval_loss(model, stage_loss(loss_name, model, stage), dataset)
    hard = {**stage, "hardness_mode": "in_batch_negatives", "hardness_strength": 9.0}
    assert _eval_loss(model, stage_loss(loss_name, model, hard), dataset) > plain + 0.1
    with pytest.raises(ValueError, match="hardness_mode"):
        stage_loss(loss_name, model, {**hard, "hardness_mode": "hardest"})


def test_weight_averaging_is_the_elementwise_mean():
    models = [new_model("tiny", seed=seed) for seed in range(3)]
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    averaged = average_weights(models).state_dict()
    for key, value in averaged.items():
        expected = torch.stack([state[key] for state in states]).float().mean(0)
        torch.testing.assert_close(value.float(), expected, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="same parameters"):
        average_weights([new_model("tiny"), new_model("tiny", max_seq_length=16)])


def _spy_on_encode(teacher, monkeypatch) -> list[list[str]]:
    """The text lists the teacher's stock ``encode`` is called with, call by call."""
    encoded, stock_encode = [], teacher.encode
    monkeypatch.setattr(teacher, "encode", lambda texts, **kwargs: encoded.append(list(texts)) or stock_encode(texts, **kwargs))
    return encoded


def test_teacher_embeddings_are_cached_text_by_text(tmp_path, monkeypatch):
    teacher = new_model("tiny", seed=1)
    fresh = teacher.encode(["a", "b", "c d"])
    encoded = _spy_on_encode(teacher, monkeypatch)
    first = teacher_embeddings(teacher, ["a", "b"], str(tmp_path))
    again = teacher_embeddings(teacher, ["b", "a", "b"], str(tmp_path))
    grown = teacher_embeddings(teacher, ["a", "c d", "b"], str(tmp_path))
    assert encoded == [["a", "b"], ["c d"]]  # the second call met no new text, the third one
    assert (again == first[[1, 0, 1]]).all() and (grown[[0, 2]] == first).all()
    assert abs(grown - fresh[[0, 2, 1]]).max() < 1e-6
    assert len(list(tmp_path.glob("teacher-*/*.keys.npy"))) == 2


def test_teacher_cache_tells_teachers_of_one_architecture_apart(tmp_path):
    """Two checkpoints with the same modules differ only in their weights; each gets its own vectors."""
    first, second = new_model("tiny", seed=1), new_model("tiny", seed=2)
    assert repr(first) == repr(second)
    teacher_embeddings(first, ["a man sings"], str(tmp_path))
    vectors = teacher_embeddings(second, ["a man sings"], str(tmp_path))
    assert abs(vectors - second.encode(["a man sings"])).max() < 1e-6
    assert len(list(tmp_path.glob("teacher-*"))) == 2


def test_teacher_embeddings_encode_a_repeated_text_once(monkeypatch):
    teacher = new_model("tiny", seed=1)
    fresh = teacher.encode(["a man sings", "a dog runs"])
    encoded = _spy_on_encode(teacher, monkeypatch)
    vectors = teacher_embeddings(teacher, ["a man sings", "a dog runs", "a man sings", "a man sings"])
    assert encoded == [["a man sings", "a dog runs"]] and vectors.shape == (4, 64)
    assert (vectors[0] == vectors[2]).all() and (vectors[0] == vectors[3]).all()
    assert abs(vectors[:2] - fresh).max() < 1e-6


def test_augmented_distillation_rows_keep_the_clean_sentences_target(data_dir):
    """augmentation on a distillation task: the sentence and its noisy copy both carry the clean one's vector."""
    teacher = new_model("tiny", seed=1)
    sentences = stage_dataset({"type": "sentences", "path": "sts/stsb_en_dev.tsv.gz", "limit": 8}, data_dir)
    rows = augmented_pairs(distillation_dataset(teacher, sentences), "typos", 0.5, seed=0)
    assert rows.column_names == ["text", "label"] and list(rows[0]) == ["anchor", "positive", "label"]
    batch = rows[:8]
    assert batch["anchor"] == sentences["text"][:] and batch["positive"] != batch["anchor"]
    clean = teacher.encode(batch["anchor"])
    assert abs(torch.tensor(batch["label"]).numpy() - clean).max() < 1e-6


def test_augmented_pairs_in_spawned_dataloader_workers_draw_their_own_noise():
    """Workers started by spawn or forkserver (macOS; Linux from Python 3.14) get the dataset pickled, its
    transform included; each worker, and each epoch's workers, must draw noise of their own (copies of one
    stream gave the same typos to every worker's batches, epoch after epoch), reproducibly under a seed."""
    sentence = "a man is playing a large guitar on the stage tonight"
    pairs = augmented_pairs(Dataset.from_dict({"text": [sentence] * 16}), "typos", 0.5, seed=0)

    def epoch() -> list[list[str]]:
        loader = torch.utils.data.DataLoader(pairs, batch_size=8, num_workers=2, multiprocessing_context="spawn",
                                             collate_fn=list)
        return [[row["positive"] for row in batch if row["anchor"] == sentence] for batch in loader]

    torch.manual_seed(0)
    first, second = epoch(), epoch()
    torch.manual_seed(0)
    assert epoch() == first
    assert [len(batch) for batch in first] == [8, 8] and sentence not in first[0]
    assert first[0] != first[1] and first != second


def test_translations_pair_each_english_sentence_with_its_translation_in_the_same_cell(data_dir, tmp_path):
    spec = {"type": "translations", "english": "sts/stsb_en_train.tsv.gz", "limit": 50,
            "path": ["sts/stsb_multi_mt/stsb_ja_train.tsv.gz", "sts/stsb_multi_mt/stsb_pl_train.tsv.gz"]}
    pairs = stage_dataset(spec, data_dir)
    cells = {}
    for name in ("stsb_en_train", "stsb_multi_mt/stsb_ja_train", "stsb_multi_mt/stsb_pl_train"):
        with gzip.open(data_dir / f"sts/{name}.tsv.gz", "rt", encoding="utf-8") as file:
            rows = [line.rstrip("\n").split("\t") for line in list(file)[1:]]
        cells[name] = [row[0] for row in rows] + [row[1] for row in rows]  # every first sentence, then every second
    for language in ("ja", "pl"):
        expected = list(dict.fromkeys(zip(cells["stsb_en_train"], cells[f"stsb_multi_mt/stsb_{language}_train"])))[:50]
        offset = 0 if language == "ja" else 50
        assert list(zip(pairs["anchor"], pairs["positive"]))[offset : offset + 50] == expected
    assert len(pairs) == 100 and pairs[0]["positive"] != pairs[50]["positive"] and pairs[0]["anchor"] == pairs[50]["anchor"]
    with pytest.raises(ValueError, match="stsb_ja_dev.tsv.gz has 1500 pairs and .*stsb_en_train.tsv.gz 5749"):
        stage_dataset({**spec, "path": "sts/stsb_multi_mt/stsb_ja_dev.tsv.gz"}, data_dir)
    with gzip.open(data_dir / "sts/stsb_multi_mt/stsb_ja_train.tsv.gz", "rt", encoding="utf-8") as file:
        lines = list(file)
    lines[1:3] = [lines[2], lines[1]]  # two rows swapped: the same sentences, out of step with the English file
    (tmp_path / "swapped.tsv").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match="swapped.tsv row 1 scores 3.8, .*stsb_en_train.tsv.gz 5.0"):
        stage_dataset({**spec, "path": str(tmp_path / "swapped.tsv")}, data_dir)
    with pytest.raises(ValueError, match="translations data need 'english'"):
        stage_dataset({k: v for k, v in spec.items() if k != "english"}, data_dir)


def test_parallel_distillation_regresses_both_sides_onto_the_english_vector(data_dir):
    teacher = new_model("tiny", seed=1)
    pairs = stage_dataset({"type": "parallel", "path": "parallel/en-fr.tsv.gz", "limit": 4}, data_dir)
    dataset = distillation_dataset(teacher, pairs)
    assert dataset.column_names == ["anchor", "positive", "label"]
    label = dataset[0]["label"]  # a tensor, which the collator stacks
    assert isinstance(label, torch.Tensor) and isinstance(dataset[0]["anchor"], str)
    assert torch.allclose(label, teacher.encode([dataset[0]["anchor"]], convert_to_tensor=True)[0])


def test_distillation_rows_keep_the_anchor_first(data_dir, caplog):
    """The stock collator reads each row's keys in order and warns that MNRL-style losses take the first
    column as the anchor when 'anchor' is not first: the label column must come last in a row."""
    teacher = new_model("tiny", seed=1)
    pairs = stage_dataset({"type": "parallel", "path": "parallel/en-fr.tsv.gz", "limit": 4}, data_dir)
    rows = [distillation_dataset(teacher, pairs)[i] for i in range(4)]
    with caplog.at_level("WARNING"):
        batch = SentenceTransformerDataCollator(preprocess_fn=teacher.preprocess)(rows)
    assert list(rows[0]) == ["anchor", "positive", "label"]
    assert "is at index" not in caplog.text and batch["label"].shape == (4, 64)


class _Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt("simulated interruption")


def _recipe(tmp_path, data_dir, **stage):
    return {
        "output_dir": str(tmp_path / "run"),
        "data_dir": str(data_dir),
        "model": {"preset": "tiny", "seed": 0},
        "defaults": {"batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 2, "max_steps": 6},
        "stages": [{"name": "nli", "data": {"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 64}, **stage}],
    }


def test_resume_continues_from_the_saved_step(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, callbacks=[_Interrupt()])
    assert (tmp_path / "run" / "00-nli" / "run0-plain" / "checkpoints" / "checkpoint-2").is_dir()
    run_recipe(recipe)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [entry["step"] for entry in logs if "loss" in entry]
    assert steps == [1, 2, 3, 4, 5, 6], "the second run resumed at step 3 (checkpoint-2), not from 0"
    assert (tmp_path / "run" / "00-nli" / "DONE").is_file() and (tmp_path / "run" / "final" / "modules.json").is_file()
    run_recipe(recipe)  # everything done: nothing is trained again
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == len(logs)


def test_a_finished_stage_trained_with_other_settings_stops_the_rerun(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir, max_steps=1)
    run_recipe(recipe)
    log = tmp_path / "run" / "metrics.jsonl"
    lines = len(log.read_text().splitlines())
    run_recipe({**recipe, "stages": [{**recipe["stages"][0], "eval_steps": 7, "logging_steps": 3}]})  # bookkeeping only
    assert len(log.read_text().splitlines()) == lines, "nothing was trained again"
    with pytest.raises(ValueError, match=r"stage nli: .*00-nli was trained with other settings \(learning_rate changed"):
        run_recipe({**recipe, "stages": [{**recipe["stages"][0], "learning_rate": 5e-4}]})
    with pytest.raises(ValueError, match=r"stage nli: .*00-nli was trained with other settings \(start_model changed"):
        run_recipe({**recipe, "model": {"preset": "tiny", "seed": 1}})  # another starting model
    (tmp_path / "run" / "00-nli" / "DONE").write_text("")  # a marker from before settings were recorded
    run_recipe(recipe)
    assert len(log.read_text().splitlines()) == lines


def test_time_limit_stops_with_a_checkpoint_and_the_rerun_resumes(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir)
    assert run_recipe(recipe, time_limit=1e-9) is None  # past the limit after the first step
    run = tmp_path / "run" / "00-nli"
    assert (run / "run0-plain" / "checkpoints" / "checkpoint-1").is_dir() and not (run / "DONE").exists()
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = subprocess.run([sys.executable, "-m", "pixel_st.cli", "train", str(tmp_path / "recipe.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logs if "loss" in entry] == [1, 2, 3, 4, 5, 6]
    assert (run / "DONE").is_file()


def test_cli_time_limit_exit_status(tmp_path, data_dir):
    from pixel_st.cli import PAUSED

    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(_recipe(tmp_path, data_dir)))
    result = subprocess.run([sys.executable, "-m", "pixel_st.cli", "train", str(tmp_path / "recipe.yaml"), "--time-limit", "0.001"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == PAUSED and "run the same command again" in result.stdout.lower()


def test_cli_teacher_override(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir, loss="distill", max_steps=1)
    recipe["stages"][0]["data"] = {"type": "sentences", "path": "sts/stsb_en_dev.tsv.gz", "limit": 16}
    recipe["teacher"] = str(tmp_path / "no-such-teacher")
    new_model("tiny", seed=1).save(str(tmp_path / "teacher"))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "pixel_st.cli", "train", str(tmp_path / "recipe.yaml"), "--teacher", str(tmp_path / "teacher")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "run" / "teacher-cache").glob("teacher-*/*.vectors.npy"))


def test_averaged_stage_with_rendering_in_dataloader_workers(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir, augmentation=["typos", "shuffle"], dataloader_num_workers=2, max_steps=2,
                     eval="sts/stsb_en_dev.tsv.gz", eval_steps=2)
    recipe["stages"][0]["data"] = {"type": "sentences", "path": "sts/stsb_en_dev.tsv.gz", "limit": 64}
    final = run_recipe(recipe)
    runs = tmp_path / "run" / "00-nli"
    assert (runs / "run0-typos" / "DONE").is_file() and (runs / "run1-shuffle" / "DONE").is_file()
    assert final.encode(["works"]).shape == (1, 64)
    card = (tmp_path / "run" / "final" / "README.md").read_text()
    assert "| nli | mnrl, one run per augmentation (typos, shuffle, rate 0.1), weights averaged |" in card
    assert "| run0-typos 2: " in card and ", run1-shuffle 2: " in card  # each run's dev score at its step 2


def test_two_gloo_processes_with_torchrun(tmp_path, data_dir):
    recipe = _recipe(tmp_path, data_dir, max_steps=3)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "pixel_st.cli",
               "train", str(tmp_path / "recipe.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, "\n".join(l for l in result.stderr.splitlines() if "rank1]:" in l)[-2500:]
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epoch = [entry["epoch"] for entry in logs if "loss" in entry][-1]
    # 64 NLI triplets at 8 per process: 3 steps of two processes cover 48 rows, one process only 24.
    rows = len(stage_dataset(recipe["stages"][0]["data"], data_dir))
    assert epoch == pytest.approx(3 * 2 * 8 / rows, abs=0.05)
    assert (tmp_path / "run" / "final" / "modules.json").is_file()


def test_scratch_recipe_runs_every_stage_at_toy_size(tmp_path, data_dir):
    """The shipped recipe as the GPU will run it (its stages, data, losses and augmentation, in order), shrunk:
    a tiny student and teacher, 32 rows per file, 2 steps per stage."""
    from pathlib import Path

    from pixel_st.recipe import load_recipe

    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "scratch.yaml")
    new_model("tiny", seed=1).save(str(tmp_path / "teacher"))
    recipe.update(output_dir=str(tmp_path / "run"), data_dir=str(data_dir), teacher=str(tmp_path / "teacher"),
                  model={"preset": "tiny", "seed": 0})
    recipe["defaults"]["dataloader_num_workers"] = 0
    recipe["select"] = {group: files[:1] for group, files in recipe["select"].items()}  # one dev file per group
    for stage in recipe["stages"]:
        stage.update(batch_size=8, max_steps=2)
        for task in stage.get("tasks", {None: stage}).values():
            task["data"]["limit"] = 32
    final = run_recipe(recipe)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    finished = {entry["stage"]: entry for entry in logs if entry.get("final")}
    assert list(finished) == [stage["name"] for stage in recipe["stages"]]
    assert [entry["stage"] for entry in logs if "select_score" in entry] == list(finished)
    assert final.encode(["works"]).shape == (1, 64)
    # The final card lists every stage with its data and its dev score at the end, above the stock card.
    card = (tmp_path / "run" / "final" / "README.md").read_text()
    table = card[card.index("## Training stages"):card.index("# SentenceTransformer")]
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(recipe["stages"])
    for row, stage in zip(rows, recipe["stages"]):
        score = next(value for key, value in finished[stage["name"]].items() if key.endswith("_spearman_cosine"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == stage["name"] and cells[-1] == f"{100 * score:.1f}"
        for task in stage.get("tasks", {None: stage}).values():
            assert Path(task["data"]["path"][0] if isinstance(task["data"]["path"], list) else task["data"]["path"]).name in cells[3]
            assert "english" not in task["data"] or f"english {task['data']['english']}" in cells[3]
        assert bool(stage.get("seed")) == (f", seed {stage.get('seed')}" in cells[4])


WORDS = {"type": "words", "path": "sts/stsb_en_train.tsv.gz", "limit": 300, "vocabulary": 400, "samples": 128}
VISUAL = {"type": "sentences", "path": "sts/stsb_en_train.tsv.gz", "limit": 64}


def test_a_stage_with_tasks_trains_each_task_with_its_own_loss(tmp_path, data_dir):
    """Word-vector distillation and visual MNRL in one run, batches in turn: both tasks' losses fall, the
    plan counts the trainer's steps, and the card names both tasks."""
    from pixel_st.recipe_plan import recipe_plan

    teacher = new_model("tiny", seed=1)
    teacher.save(str(tmp_path / "teacher"))
    recipe = _recipe(tmp_path, data_dir)
    recipe["teacher"] = str(tmp_path / "teacher")
    recipe["defaults"].update(batch_size=16, max_steps=16, save_steps=100)
    recipe["stages"] = [{"name": "wv", "tasks": {"words": {"loss": "distill", "data": WORDS, "batch_size": 32},
                                                 "visual": {"loss": "mnrl", "augmentation": "mixed", "data": VISUAL,
                                                            "scale": 30.0, "hardness_mode": "in_batch_negatives", "hardness_strength": 9.0}}}]
    (stage,) = stage_settings(recipe)
    assert [task["batch_size"] for task in stage["tasks"].values()] == [32, 16]
    assert stage["runs"] == ["run0-words+visual"] and stage["tasks"]["visual"]["rate"] == STAGE_DEFAULTS["rate"]
    words = training_dataset(stage["tasks"]["words"], data_dir, teacher, None)
    sentences = stage_dataset(VISUAL, data_dir)
    pairs = augmented_pairs(sentences, "mixed", 0.1, seed=0)
    fixed_pairs = Dataset.from_list([pairs[i] for i in range(len(pairs))])
    model = new_model("tiny", seed=0)
    before = (_eval_loss(model, stage_loss("distill", model, STAGE_DEFAULTS), words),
              _eval_loss(model, stage_loss("mnrl", model, STAGE_DEFAULTS), fixed_pairs))
    final = run_recipe(recipe)
    after = (_eval_loss(final, stage_loss("distill", final, STAGE_DEFAULTS), words),
             _eval_loss(final, stage_loss("mnrl", final, STAGE_DEFAULTS), fixed_pairs))
    assert after[0] < before[0] * 0.95 and after[1] < before[1] * 0.95, (before, after)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(entry["step"] for entry in logs if "step" in entry) == recipe_plan(recipe)[0]["steps"] == 16
    assert recipe_plan(recipe)[0]["texts"] == 8 * 32 * 1 + 8 * 16 * 2  # 8 batches of 32 words, 8 of 16 sentence pairs
    card = (tmp_path / "run" / "final" / "README.md").read_text()
    assert "words: distill; visual: mnrl, augmentation mixed 0.1, scale 30.0, hardness in_batch_negatives 9.0; batches in turn" in card
    assert "words: words: stsb_en_train.tsv.gz (limit 300; vocabulary 400; samples 128)" in card
    assert "| 16 steps | 32 / 16 |" in card


def test_word_data_need_a_teacher_loss_and_tasks_exclude_stage_data(tmp_path, data_dir):
    teacher = new_model("tiny", seed=1)
    task = {**STAGE_DEFAULTS, "name": "w", "data": WORDS}
    with pytest.raises(ValueError, match="words data need a teacher loss"):
        training_dataset({**task, "loss": "mnrl"}, data_dir, teacher, None)
    with pytest.raises(ValueError, match="needs a top-level 'teacher'"):
        training_dataset({**task, "loss": "distill"}, data_dir, None, None)
    recipe = _recipe(tmp_path, data_dir, tasks={"words": {"loss": "distill", "data": WORDS}})
    with pytest.raises(ValueError, match="takes its data and augmentation from each task"):
        stage_settings(recipe)
    recipe = _recipe(tmp_path, data_dir)
    recipe["stages"] = [{"name": "wv", "tasks": {"words": {"loss": "distill", "data": WORDS, "batch_size": 0}}}]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        stage_settings(recipe)


@pytest.mark.parametrize("name", ["paper", "scratch", "standin"])
def test_shipped_recipes_are_valid(name, data_dir):
    from pathlib import Path

    from pixel_st.recipe import load_recipe

    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / f"{name}.yaml")
    assert {"output_dir", "model", "stages"} <= set(recipe)
    from pixel_st.backbone import PRESETS

    for stage in stage_settings(recipe):
        assert (data_dir / stage["eval"]).is_file()
        for task in stage.get("tasks", {None: stage}).values():
            assert task["loss"] in {"mnrl", "symmetric_mnrl", "cached_mnrl", *TEACHER_LOSSES}
            assert task["data"]["type"] in {"sentences", "spans", "nli", "parallel", "translations", "sts", "hub", "words"}
            paths = task["data"]["path"] if isinstance(task["data"]["path"], list) else [task["data"]["path"]]
            paths += [task["data"]["english"]] if "english" in task["data"] else []
            assert all((data_dir / path).is_file() for path in paths), stage["name"]
            if task["loss"] in TEACHER_LOSSES:  # all-MiniLM-L6-v2 is 384 wide
                assert recipe["teacher"] == "all-MiniLM-L6-v2" and PRESETS[recipe["model"]["preset"]]["hidden_size"] == 384
    if recipe.get("select"):
        from pixel_st.stage_selection import selection_files

        assert all(selection_files(recipe["select"], data_dir).values())  # every pattern matches a file


def test_sentences_from_parallel_files_take_the_named_language_columns(data_dir):
    spec = {"type": "sentences", "limit": 40, "languages": ["zh", "de"],
            "path": ["parallel/en-zh.tsv.gz", "parallel/multi30k_task1_train.en-de-fr-cs.tsv.gz"]}
    texts = stage_dataset(spec, data_dir)["text"]
    expected = []
    for name, column in (("en-zh", 2), ("multi30k_task1_train.en-de-fr-cs", 1)):
        with gzip.open(data_dir / f"parallel/{name}.tsv.gz", "rt", encoding="utf-8") as file:
            cells = [line.rstrip("\n").split("\t")[column] for line in list(file)[1:]]
        expected += list(dict.fromkeys(cells))[:40]
    assert texts == expected and len(texts) == 80
    everything = stage_dataset({**spec, "languages": None, "path": spec["path"][1]}, data_dir)["text"]
    assert everything[:4] == ["Two young, White males are outside near many bushes.",
                              "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
                              "Deux jeunes hommes blancs sont dehors près de buissons.",
                              "Dva mladí bílí muži jsou venku poblíž mnoha keřů."]
    with pytest.raises(ValueError, match=r"no sentence column among \['source', 'english', 'zh', 'lang_label'\]"):
        stage_dataset({**spec, "languages": ["ja"], "path": "parallel/en-zh.tsv.gz"}, data_dir)


def test_excluded_files_keep_their_sentences_out_of_every_column(data_dir, tmp_path):
    spec = {"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 40}
    rows = stage_dataset(spec, data_dir)
    negative, premise = rows[3]["negative"], rows[10]["anchor"]
    held_out = tmp_path / "held_out.txt"  # one sentence as a tokeniser writes it, one in capitals
    held_out.write_text(negative.replace(".", " .") + "\n" + premise.upper() + "\n", encoding="utf-8")
    kept = stage_dataset({**spec, "exclude": [str(held_out)]}, data_dir)
    expected = [row for row in rows if negative not in row.values() and premise not in row.values()]
    assert len(expected) < len(rows) - 1 and kept.to_list() == expected
    unchanged = stage_dataset({**spec, "exclude": "sts/sickr_trial.tsv.gz"}, data_dir)
    assert unchanged.to_list() == rows.to_list()  # an STS file's sentences, none of them NLI text
    rows = Dataset.from_dict({"anchor": ["A man sings.", "?!"], "positive": ["Someone sings", "Nothing"]})
    kept = without_texts(rows, ["a MAN sings", "..."])  # punctuation alone is no sentence to exclude
    assert kept.to_list() == [{"anchor": "?!", "positive": "Nothing"}]


def test_sts_pairs_are_the_pairs_scored_at_least_min_score(data_dir, tmp_path):
    from pixel_st.sts import read_sts

    first, second, scores = read_sts(data_dir / "sts/sickr_trial.tsv.gz")  # SICK's scale: 1 to 5
    expected = list(dict.fromkeys((a, b) for a, b, score in zip(first, second, scores) if score >= 4.5))
    pairs = stage_dataset({"type": "sts", "min_score": 4.5, "path": "sts/sickr_trial.tsv.gz"}, data_dir)
    assert list(zip(pairs["anchor"], pairs["positive"])) == expected and 0 < len(expected) < len(scores) / 4
    assert len(stage_dataset({"type": "sts", "path": "sts/sickr_trial.tsv.gz"}, data_dir)) > len(expected)  # 4 by default
    (tmp_path / "twice.tsv").write_text("sentence1\tsentence2\tscore\nA dog runs.\tA dog is running.\t4.8\n"
                                        "A dog runs.\tA dog is running.\t4.6\nA dog runs.\tA cat sleeps.\t0.4\n", encoding="utf-8")
    assert stage_dataset({"type": "sts", "path": str(tmp_path / "twice.tsv")}, data_dir).to_list() == [
        {"anchor": "A dog runs.", "positive": "A dog is running."}]



def test_sts_pairs_with_an_english_file_cross_the_languages(data_dir, tmp_path):
    header = "sentence1\tsentence2\tscore\n"
    (tmp_path / "en.tsv").write_text(header + "A dog runs.\tA dog is running.\t4.8\n"
                                     "A cat sleeps.\tA man cooks.\t0.4\nA boy swims.\tA child swims.\t4.0\n", encoding="utf-8")
    (tmp_path / "de.tsv").write_text(header + "Ein Hund rennt.\tEin Hund läuft.\t4.8\n"
                                     "Eine Katze schläft.\tEin Mann kocht.\t0.4\nEin Junge schwimmt.\tEin Kind schwimmt.\t4.0\n",
                                     encoding="utf-8")
    spec = {"type": "sts", "english": str(tmp_path / "en.tsv"), "path": str(tmp_path / "de.tsv")}
    assert list(zip(*stage_dataset(spec, data_dir)[:].values())) == [
        ("A dog runs.", "Ein Hund läuft."), ("A boy swims.", "Ein Kind schwimmt."),
        ("Ein Hund rennt.", "A dog is running."), ("Ein Junge schwimmt.", "A child swims.")]
    assert len(stage_dataset({**spec, "min_score": 4.5}, data_dir)) == 2
    lines = (tmp_path / "de.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "swapped.tsv").write_text("".join([lines[0], lines[2], lines[1], lines[3]]), encoding="utf-8")
    with pytest.raises(ValueError, match="swapped.tsv row 1 scores 0.4, .*en.tsv 4.8: not a row-by-row translation"):
        stage_dataset({**spec, "path": str(tmp_path / "swapped.tsv")}, data_dir)

def test_sentences_from_an_nli_file_are_its_premises_and_hypotheses(data_dir):
    rows = read_tsv(data_dir / "nli/nli_train.tsv.gz")[:30]
    expected = list(dict.fromkeys(row[column] for row in rows for column in ("premise", "hypothesis")))
    spec = {"type": "sentences", "path": "nli/nli_train.tsv.gz"}
    assert stage_dataset(spec, data_dir)["text"][: len(expected)] == expected  # no "neutral" among them
    xnli = stage_dataset({**spec, "path": "nli/xnli_dev.tsv.gz"}, data_dir)["text"]
    assert not {"ar", "de", "entailment", "neutral", "contradiction"} & set(xnli)
    premises = stage_dataset({**spec, "languages": ["premise"]}, data_dir)["text"]
    assert premises[:3] == list(dict.fromkeys(row["premise"] for row in rows))[:3]


def test_plan_counts_the_steps_the_trainer_takes(tmp_path, data_dir):
    from pixel_st.recipe_plan import format_plan, recipe_plan

    recipe = _recipe(tmp_path, data_dir)
    recipe["defaults"].update(max_steps=-1, batch_size=16, save_steps=100)
    recipe["stages"] = [
        {"name": "visual", "augmentation": "mixed", "epochs": 2, "data": {"type": "sentences", "path": "sts/stsb_en_dev.tsv.gz", "limit": 40}},
        {"name": "xling", "epochs": 1.5, "data": {"type": "parallel", "path": "parallel/en-de.tsv.gz", "limit": 40}},
        {"name": "nli", "max_steps": 2, "data": {"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 64}},
    ]
    plan = recipe_plan(recipe)
    assert [(s["rows"], s["texts_per_row"], s["steps"]) for s in plan] == [(40, 2, 6), (40, 2, 5), (64, 3, 2)]
    assert [s["texts"] for s in plan] == [160, 120, 96]  # 2 epochs x 40 x 2; 60 rows x 2; 2 steps x 16 x 3
    run_recipe(recipe)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    taken = {stage["name"]: max(entry["step"] for entry in logs if entry["stage"] == stage["name"] and "step" in entry) for stage in plan}
    assert taken == {stage["name"]: stage["steps"] for stage in plan}
    assert format_plan(plan).splitlines()[-1].split()[1:] == ["13", "376"]


def test_cli_plan_prints_the_stages_and_trains_nothing(tmp_path, data_dir, capsys):
    from pixel_st.cli import main

    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(_recipe(tmp_path, data_dir)))
    main(["train", str(tmp_path / "recipe.yaml"), "--plan"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["nli", "64", "3", "6", "144"] and lines[-1].split() == ["total", "6", "144"]
    assert not (tmp_path / "run").exists()


def test_fresh_model_spec_takes_renderer_settings():
    from pixel_st.recipe import starting_model

    model = starting_model({"preset": "tiny", "seed": 0, "max_seq_length": 32, "word_aligned": True})
    assert model[0].renderer.word_aligned is True and model.max_seq_length == 32
    with pytest.raises(ValueError, match="wordaligned"):
        starting_model({"preset": "tiny", "wordaligned": True})
