"""The model shipped inside the package: fp16, small, loads offline with stock sentence-transformers."""

from __future__ import annotations

import configparser
import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from pixel_st import DEFAULT_MODEL, new_model
from pixel_st.cli import main
from pixel_st.shipping import save_fp16

ROOT = os.path.join(os.path.dirname(__file__), "..")
QUICKSTART = os.path.join(ROOT, "examples", "quickstart.py")


def test_shipped_folder_is_fp16_and_small():
    weights = os.path.join(DEFAULT_MODEL, "model.safetensors")
    assert os.path.getsize(weights) <= 50 * 2**20
    from safetensors import safe_open

    with safe_open(weights, "pt") as file:
        assert {file.get_tensor(key).dtype for key in file.keys()} == {torch.float16}
    assert os.path.isfile(os.path.join(DEFAULT_MODEL, "fonts", "NotoSans-Regular.ttf"))


def test_quickstart_example_loads_the_default_model_offline_and_ranks_the_misspelt_paraphrase_first():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, QUICKSTART], capture_output=True, text=True, check=True, env=env).stdout
    shape, matrix = out.split("\n", 1)
    assert shape == "(3, 384)"
    similarity = [float(value) for value in re.findall(r"-?\d+\.\d+", matrix)]
    assert len(similarity) == 9 and similarity[0] == 1.0
    misspelt, unrelated = similarity[1], similarity[2]  # "A man is playnig a gitar." / "The stock market fell ..."
    assert misspelt > unrelated + 0.2


def test_export_writes_a_loadable_copy(tmp_path, capsys):
    main(["export", str(tmp_path / "copy")])
    from sentence_transformers import SentenceTransformer

    texts = ["exported", "the same model"]
    copy = SentenceTransformer(str(tmp_path / "copy"), trust_remote_code=True)
    original = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True)
    assert np.array_equal(copy.encode(texts), original.encode(texts))
    with pytest.raises(SystemExit, match="^pixel-st export: .* is not an empty folder"):
        main(["export", str(tmp_path / "copy")])
    (tmp_path / "empty").mkdir()
    main(["export", str(tmp_path / "empty")])
    assert (tmp_path / "empty" / "modules.json").is_file()


def test_fp16_weights_load_back_close_to_fp32(tmp_path):
    model = new_model("tiny", seed=3)
    save_fp16(model, str(tmp_path / "half"))
    assert next(model.parameters()).dtype == torch.float32, "the caller's model keeps its dtype"
    from sentence_transformers import SentenceTransformer

    loaded = SentenceTransformer(str(tmp_path / "half"), trust_remote_code=True)
    assert next(loaded.parameters()).dtype == torch.float32
    texts = ["half precision weights", "still the same embedding, nearly"]
    cosines = (loaded.encode(texts) * model.encode(texts)).sum(1)
    assert (cosines > 0.999).all()


def test_demo_uses_the_default_model_and_says_what_it_is(capsys):
    main(["demo"])
    out = capsys.readouterr().out
    assert DEFAULT_MODEL in out and "STAND-IN" in out
    rows = [line for line in out.splitlines() if line.startswith("A man") or line.startswith("The stock")]
    assert len(rows) == 4 and all(len(row.split()[-4:]) == 4 for row in rows)


def test_card_says_what_the_model_is_and_its_snippets_load_it():
    with open(os.path.join(DEFAULT_MODEL, "README.md"), encoding="utf-8") as file:
        card = file.read()
    assert "STAND-IN" in card and "## Training stages" in card and "sentence_transformers_model_id" not in card
    snippets = [block.split("```", 1)[0] for block in card.split("```python\n")[1:]]
    assert len(snippets) == 2  # ours at the top, the stock usage section (corrected) below
    for snippet in snippets:
        code = snippet.split("# Run inference")[0] + "print(model.encode(['it loads']).shape)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "(1, 384)"


def test_package_data_globs_take_every_file_of_the_shipped_model():
    """A wheel or a non-editable install holds only what setup.cfg's package_data globs match (setuptools
    expands them with glob, as here); a file they miss would leave an installed model folder incomplete."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    package = os.path.join(ROOT, "pixel_st")
    patterns = config["options.package_data"]["pixel_st"].split()
    matched = {os.path.normpath(path) for pattern in patterns for path in glob.glob(os.path.join(package, pattern))}
    shipped = {
        os.path.normpath(os.path.join(folder, name))
        for folder, _, names in os.walk(os.path.join(package, "default_model"))
        for name in names
    }
    assert shipped and shipped <= matched, sorted(shipped - matched)
