"""The pixel-st command line."""

from __future__ import annotations

import numpy as np
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


def test_render_saves_the_strip(tmp_path, capsys):
    main(["render", "Hello pixels", "-o", str(tmp_path / "s.png"), "--grid", "--scale", "2"])
    image = np.asarray(Image.open(tmp_path / "s.png"))
    assert image.shape[0] == 32 and image.shape[1] % 32 == 0
    assert (image[:, -2:] == 0).all(), "ends in the black patch"
    assert "patches" in capsys.readouterr().out
