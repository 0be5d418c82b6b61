"""Opening the data files: UTF-8 text, gzipped when the name ends in .gz."""

from __future__ import annotations

import gzip
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
