"""STS suite, anisotropy, the report command and mteb on a local task."""

from __future__ import annotations

import json

import pytest
import torch

from pixel_st.anisotropy import anisotropy, mean_pairwise_cosine
from pixel_st.cli import main
from pixel_st.sts import CONDITIONS, find_sts_files, read_sts, spearman


def test_find_sts_files_only_takes_the_uniform_format(data_dir):
    files = find_sts_files(data_dir, "*dev*")
    assert "sts/stsb_en_dev" in files and "sts/stsb_multi_mt/stsb_de_dev" in files
    assert not any("nli" in name for name in find_sts_files(data_dir))
    first, second, scores = read_sts(files["sts/stsb_en_dev"])
    assert len(first) == len(second) == len(scores) == 1500


def test_spearman_is_high_when_similarity_follows_the_gold_order(tmp_path, tiny_model):
    # Pairs of identical text have cosine 1, unrelated pairs less: the gold scores rank them the same way.
    rows = ["sentence1\tsentence2\tscore"]
    rows += [f"same text {i}\tsame text {i}\t5" for i in range(5)]
    rows += [f"alpha {i}\tcompletely different words here {i}\t0" for i in range(5)]
    path = tmp_path / "toy_dev.tsv"
    path.write_text("\n".join(rows) + "\n")
    # Ties in gold (two groups) cap Spearman below 100; a perfect split of the groups gives about 87.
    assert spearman(tiny_model, path) > 85
    reversed_gold = path.read_text().replace("\t5\n", "\tX\n").replace("\t0\n", "\t5\n").replace("\tX\n", "\t0\n")
    path.write_text(reversed_gold)
    assert spearman(tiny_model, path) < -85


def test_perturbed_conditions_change_the_inputs_deterministically():
    rng_text = "a sentence with several words in it"
    for name, condition in CONDITIONS.items():
        if condition is not None:
            import random

            assert condition(rng_text, random.Random("x")) == condition(rng_text, random.Random("x"))


def test_mean_pairwise_cosine_matches_brute_force():
    vectors = torch.randn(20, 8)
    unit = torch.nn.functional.normalize(vectors, dim=-1)
    cosines = unit @ unit.T
    brute = (cosines.sum() - cosines.diag().sum()) / (20 * 19)
    assert mean_pairwise_cosine(vectors) == pytest.approx(float(brute), abs=1e-6)
    assert mean_pairwise_cosine(torch.ones(5, 3)) == pytest.approx(1.0)


def test_anisotropy_has_pooled_and_every_layer(tiny_model):
    result = anisotropy(tiny_model, ["first sentence", "another one", "a third, longer sentence here"], batch_size=2)
    assert set(result) == {"pooled", "layer_1", "layer_2"}
    assert all(-1 <= value <= 1 for value in result.values())


def test_evaluate_command_writes_tables_json_and_plot(tiny_model_dir, data_dir, tmp_path, capsys):
    main(["evaluate", str(tiny_model_dir), "--data", str(data_dir), "--include", "sts/stsb_en_dev",
          "--max-pairs", "40", "--robustness", "--anisotropy", "30",
          "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert "| sts/stsb_en_dev |" in out and "| typos 10% |" in out and "| layer_2 |" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["robustness"]) == set(CONDITIONS)
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_mteb_runs_on_a_local_task(tiny_model, tiny_model_dir, data_dir, tmp_path):
    import mteb

    from pixel_st.mteb_integration import local_sts_task, model_meta

    meta = model_meta("pixel-st/tiny-test", tiny_model, path=str(tiny_model_dir), revision="local")
    task = local_sts_task(data_dir / "sts" / "stsb_en_dev.tsv.gz", name="LocalSTSBDev")
    results = mteb.evaluate(meta, [task], cache=mteb.ResultCache(tmp_path), show_progress_bar=False)
    saved = json.loads(next(tmp_path.rglob("LocalSTSBDev.json")).read_text())
    scores = saved["scores"]["dev"][0]
    assert "cosine_spearman" in scores and -1 <= scores["cosine_spearman"] <= 1
    assert results.task_results[0].get_score() == pytest.approx(scores["main_score"], abs=1e-5)
