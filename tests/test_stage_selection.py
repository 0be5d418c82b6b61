"""A recipe's ``select``: every stage scored on groups of dev files, the best stage's model is the final one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from pixel_st.portable_run import pack_run
from pixel_st.recipe import run_recipe
from pixel_st.stage_selection import SCORE, best_stage, selection_files
from pixel_st.sts import read_sts

SELECT = {"english": ["sts/sickr_trial.tsv.gz"], "german": ["sts/stsb_multi_mt/stsb_de_*.tsv.gz"]}


def _log(path, scores):
    path.write_text("".join(json.dumps({"stage": name, SCORE: score}) + "\n" for name, score in scores.items()))


def test_best_stage_prefers_the_later_on_a_tie_skips_nan_and_missing_models(tmp_path, caplog):
    log = tmp_path / "metrics.jsonl"
    _log(log, {"a": 0.5, "b": 0.7, "c": 0.7, "d": float("nan")})
    assert best_stage(log, {"a", "b", "c", "d"}) == "c"
    assert best_stage(log, {"a", "b", "d"}) == "b"
    assert best_stage(log, {"a", "d"}) == "a" and "stage c scored best" in caplog.text
    with pytest.raises(FileNotFoundError, match="no stage"):
        best_stage(log, {"e"})


def test_selection_files_expand_globs_and_reject_bad_patterns_and_shapes(data_dir):
    groups = selection_files(SELECT, data_dir)
    assert [path.name for path in groups["german"]] == ["stsb_de_dev.tsv.gz", "stsb_de_train.tsv.gz"]
    with pytest.raises(FileNotFoundError, match="nothing matches 'sts/none_\\*'"):
        selection_files({"x": ["sts/none_*"]}, data_dir)
    with pytest.raises(ValueError, match="select: expected groups"):
        selection_files(["sts/sickr_trial.tsv.gz"], data_dir)


def test_the_final_model_is_the_best_scoring_stage(tmp_path, data_dir):
    stage = {"data": {"type": "sentences", "path": "sts/stsb_en_dev.tsv.gz", "limit": 32}, "augmentation": "mixed"}
    recipe = {
        "output_dir": str(tmp_path / "run"),
        "data_dir": str(data_dir),
        "model": {"preset": "tiny", "seed": 0},
        "select": {"english": ["sts/sickr_trial.tsv.gz"], "german": ["sts/stsb_multi_mt/stsb_de_dev.tsv.gz"]},
        "defaults": {"batch_size": 16, "save_steps": 100, "max_steps": 2},
        "stages": [{"name": "gentle", "learning_rate": 1e-4, **stage}, {"name": "wild", "learning_rate": 0.3, **stage}],
    }
    final = run_recipe(recipe)
    run = tmp_path / "run"
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scored = {entry["stage"]: entry for entry in entries if SCORE in entry}
    assert list(scored) == ["gentle", "wild"]
    # Each group's score is the dev Spearman of the stage's saved model; the score is the groups' mean.
    wild = SentenceTransformer(str(run / "01-wild" / "model"), trust_remote_code=True)
    first, second, gold = read_sts(data_dir / "sts" / "stsb_multi_mt" / "stsb_de_dev.tsv.gz")
    german = EmbeddingSimilarityEvaluator(first, second, gold, name="de")(wild)["de_spearman_cosine"]
    assert scored["wild"]["groups"]["german"] == pytest.approx(german, abs=1e-6)
    assert scored["wild"][SCORE] == pytest.approx(np.mean(list(scored["wild"]["groups"].values())))
    chosen = max(scored, key=lambda name: scored[name][SCORE])
    expected = SentenceTransformer(str(run / f"0{list(scored).index(chosen)}-{chosen}" / "model"), trust_remote_code=True)
    texts = ["a man plays a guitar", "the market fell"]
    assert np.allclose(final.encode(texts), expected.encode(texts), atol=1e-6)
    assert f"stage **{chosen}**'s" in (run / "final" / "README.md").read_text()
    # A packed finished run carries the chosen stage's model, from which a rerun writes the same final model.
    packed = pack_run(recipe, tmp_path / "pack")
    assert [path.parent.name for path in packed.glob("*/model")] == [f"0{list(scored).index(chosen)}-{chosen}"]
    again = run_recipe({**recipe, "output_dir": str(packed)})
    assert np.allclose(again.encode(texts), expected.encode(texts), atol=1e-2)  # float16 weights
