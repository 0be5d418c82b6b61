"""Shared fixtures: tiny models built in temp dirs, a system font file, the shared data folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pixel_st import new_model

DATA_DIR = Path(os.environ.get("PIXEL_ST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA_DIR.is_dir(), f"shared data folder not found at {DATA_DIR} (set PIXEL_ST_DATA)"
    return DATA_DIR


@pytest.fixture(scope="session")
def font_file() -> str:
    """Path of the system's Noto Sans file, as a user would pass a font file."""
    path = subprocess.run(
        ["fc-match", "-f", "%{file}", "Noto Sans:style=Regular"], capture_output=True, text=True, check=True
    ).stdout
    assert path.endswith(".ttf"), path
    return path


@pytest.fixture(scope="session")
def tiny_model():
    return new_model("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_model) -> Path:
    folder = tmp_path_factory.mktemp("tiny_model")
    tiny_model.save(str(folder))
    return folder
