"""The pixel-st command line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixel_st.cli import main


def test_new_then_encode(tmp_path, capsys):
    main(["new", str(tmp_path / "m"), "--preset", "tiny"])
    capsys.readouterr()
    main(["encode", "--model", str(tmp_path / "m"), "hello world", "hello wrold"])
    rows = np.loadtxt(capsys.readouterr().out.splitlines())
    assert rows.shape == (2, 64)
    main(["encode", "--model", str(tmp_path / "m"), "--similarity", "hello world", "hello wrold"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[-2] == "1.000"


def test_new_and_convert_refuse_a_folder_that_holds_files(tmp_path, tiny_model_dir):
    """A model written over another would leave the old one's files beside it; nothing is touched."""
    main(["new", str(tmp_path / "m"), "--preset", "tiny"])
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match="^pixel-st new: .*m is not an empty folder; write the new model into a new one"):
        main(["new", str(tmp_path / "m"), "--preset", "tiny", "--seed", "1"])
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    with pytest.raises(SystemExit, match="^pixel-st convert: .*m is not an empty folder; convert into a new one"):
        main(["convert", str(tiny_model_dir), str(tmp_path / "m")])
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == weights
    (tmp_path / "empty").mkdir()
    main(["new", str(tmp_path / "empty"), "--preset", "tiny"])
    assert (tmp_path / "empty" / "modules.json").is_file()


def test_encode_a_file_to_npy(tmp_path, capsys, caplog, tiny_model_dir, tiny_model):
    lines = [f"sentence number {i}" for i in range(39)] + [""]  # the empty line keeps its row
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    main(["encode", "--model", str(tiny_model_dir), "--input", str(tmp_path / "in.txt"), "--output",
          str(tmp_path / "out.npy"), "--render-workers", "2", "--batch-size", "40"])
    assert "40 embeddings of dimension 64" in capsys.readouterr().out
    assert "render worker" not in caplog.text  # the pool rendered, nothing fell back
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), tiny_model.encode(lines), atol=1e-6, rtol=0)
    with pytest.raises(SystemExit, match="not both"):
        main(["encode", "--model", str(tiny_model_dir), "--input", str(tmp_path / "in.txt"), "extra text"])


def test_render_saves_the_strip(tmp_path, capsys):
    main(["render", "Hello pixels", "-o", str(tmp_path / "s.png"), "--grid", "--scale", "2"])
    image = np.asarray(Image.open(tmp_path / "s.png"))
    assert image.shape[0] == 32 and image.shape[1] % 32 == 0
    assert (image[:, -2:] == 0).all(), "ends in the black patch"
    assert "patches" in capsys.readouterr().out


def test_encode_names_a_missing_or_empty_model_folder(tmp_path):
    with pytest.raises(SystemExit, match="^pixel-st encode: No model folder at .*absent"):
        main(["encode", "--model", str(tmp_path / "absent"), "a text"])
    with pytest.raises(SystemExit, match="not a model folder: it has none of modules.json, config.json"):
        main(["encode", "--model", str(tmp_path), "a text"])
    with pytest.raises(SystemExit, match="^pixel-st encode: .*No such file or directory: .*absent.txt"):
        main(["encode", "--input", str(tmp_path / "absent.txt")])


def test_encode_without_a_model_uses_the_shipped_one(capsys):
    from sentence_transformers import SentenceTransformer

    from pixel_st import DEFAULT_MODEL

    texts = ["A man is playing a guitar.", "The stock market fell."]
    main(["encode", *texts])
    rows = np.loadtxt(capsys.readouterr().out.splitlines())
    shipped = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True).encode(texts)
    np.testing.assert_allclose(rows, shipped, atol=1e-6, rtol=0)
    main(["encode", "--model", "default", "--similarity", *texts])
    assert capsys.readouterr().out.splitlines()[0].split()[-2] == "1.000"


def test_render_with_a_model_draws_what_the_model_sees(tmp_path, capsys):
    from pixel_st import DEFAULT_MODEL
    from pixel_st.renderer import TextRenderer

    text = "A man is playnig a gitar."
    main(["render", text, "--model", "default", "-o", str(tmp_path / "model.png")])
    drawn = np.asarray(Image.open(tmp_path / "model.png"))[:, :, 0]
    shipped = TextRenderer.load(DEFAULT_MODEL)
    assert shipped.word_aligned and np.array_equal(drawn, shipped.render(text))
    main(["render", text, "-o", str(tmp_path / "plain.png")])
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "plain.png"))[:, :, 0], drawn)  # continuous
    with pytest.raises(SystemExit, match="model's own settings"):
        main(["render", text, "--model", "default", "--word-aligned", "-o", str(tmp_path / "x.png")])
    with pytest.raises(SystemExit, match="model's own settings"):
        main(["render", text, "--model", "default", "--max-seq-length", "0", "-o", str(tmp_path / "x.png")])
    with pytest.raises(ValueError, match="max_seq_length must be an int >= 2"):  # not silently the default
        main(["render", text, "--max-seq-length", "0", "-o", str(tmp_path / "x.png")])
