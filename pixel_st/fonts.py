"""Font lookup for the renderer: family names known to fontconfig, and font files registered with it."""

from __future__ import annotations

import ctypes
import functools
import os

import gi

gi.require_version("Pango", "1.0")
gi.require_version("PangoCairo", "1.0")
from gi.repository import PangoCairo  # noqa: E402
from PIL import ImageFont  # noqa: E402

FONT_SUFFIXES = (".ttf", ".otf", ".ttc")


def is_font_path(font: str) -> bool:
    """True when ``font`` names a file (by suffix or path separator) rather than a family."""
    return font.lower().endswith(FONT_SUFFIXES) or os.sep in font


@functools.lru_cache(maxsize=None)
def _fontconfig() -> ctypes.CDLL:
    lib = ctypes.CDLL("libfontconfig.so.1")
    lib.FcConfigAppFontAddFile.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.FcConfigAppFontAddFile.restype = ctypes.c_int
    return lib


@functools.lru_cache(maxsize=None)
def register_font_file(path: str) -> str:
    """Make a font file usable by Pango in this process and return its family name.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a font fontconfig and FreeType can read.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Font file not found: {path}")
    try:
        family = ImageFont.truetype(path).font.family
    except OSError as error:
        raise ValueError(f"Not a readable font file: {path} ({error})") from None
    if not _fontconfig().FcConfigAppFontAddFile(None, os.fsencode(path)):
        raise ValueError(f"fontconfig could not register the font file: {path}")
    return family


def font_files_in(folder: str) -> list[str]:
    """The font files directly inside ``folder``, sorted so registration order is stable."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Fallback font folder not found: {folder}")
    return sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if name.lower().endswith(FONT_SUFFIXES)
    )


def known_families() -> set[str]:
    """Lower-cased family names Pango can see now (system fonts plus registered files)."""
    return {family.get_name().lower() for family in PangoCairo.FontMap.new().list_families()}


def check_family(family: str) -> None:
    """Raise ``ValueError`` unless fontconfig has a font of this family (it would silently substitute)."""
    if family.lower() not in known_families():
        raise ValueError(
            f"Unknown font family {family!r}: no installed or registered font has this family name. "
            "Pass a font file path instead, or install the font (see `fc-list : family`)."
        )
