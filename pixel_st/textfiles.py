"""Opening the data files (UTF-8 text, gzipped when the name ends in .gz) and a model folder's JSON configs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TextIO


def open_text(path: str | Path) -> TextIO:
    """Open for reading as UTF-8 text (``newline=""``, as the csv module wants), gunzipping ``*.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def tsv_header(path: str | Path) -> list[str]:
    """The column names on the first line of a TSV file."""
    with open_text(path) as file:
        return file.readline().rstrip("\r\n").split("\t")


def read_json_object(path: str | Path, what: str) -> dict:
    """The JSON object in ``path``; a file that is not one is a ValueError naming it as ``what``."""
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except ValueError as error:
        raise ValueError(f"Corrupt {what} {path}: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"Corrupt {what} {path}: expected a JSON object, got {type(config).__name__}")
    return config
