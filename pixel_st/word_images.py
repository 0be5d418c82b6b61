"""Word-aligned strips composed from cached word images: word-aligned rendering without a layout per text.

On a word-aligned strip every word starts at a patch boundary, so its pixels do not depend on where it
stands: the strip is its words' images pasted one after the other, each at the first tab stop past the
previous word's logical end (Pango's rule for left tabs). Pango draws each distinct word once, many to a
line; later texts reuse the image. This gives Pango's own pixels only where a word is shaped the same alone
as in its line, which holds when the text is written in one of the Latin, Cyrillic or Greek scripts (digits
and punctuation besides): a word is then drawn after a letter of that script, as in its line, and a
text's first word as cairo draws the first run of a line. Any other text (scripts mixed, Chinese or
Japanese, right to left, combining marks, symbols) is laid out by Pango whole. tests/test_word_images.py
compares the two.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import TYPE_CHECKING

import cairo
import numpy as np

if TYPE_CHECKING:
    from pixel_st.renderer import TextRenderer

# Characters whose words are shaped alike alone and in a line: ASCII, Latin-1 and Latin Extended-A/B (no
# soft hyphen), Greek (no Coptic letters, no unassigned code points), Cyrillic (no combining marks), general
# punctuation.
_COMPOSABLE = re.compile(
    "[\u0020-\u007e\u00a0-\u00ac\u00ae-\u024f\u0370-\u0377\u037a-\u037f\u0384-\u038a\u038c\u038e-\u03a1"
    "\u03a3-\u03e1\u03f0-\u03ff\u0400-\u0482\u048a-\u04ff\u2010-\u2027\u2030-\u205e]*"
)
# The characters of each script (as Unicode assigns them; the rest of the above are common to all), and a
# letter that stands before a word so that the word's digits and punctuation take that script, as they do
# after the text's earlier words.
_SCRIPTS = [
    (re.compile("[A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]"), "x"),
    (re.compile("[\u0400-\u0482\u048a-\u04ff]"), "\u0436"),
    (re.compile("[\u0370-\u0373\u0375-\u0377\u037a-\u037d\u037f\u0384\u0386\u0388-\u03ff]"), "\u03bb"),
]
_GAP = "\t\t"  # between words drawn on one line: an empty patch at least, so no ink reaches a neighbour
_SHEET_STRIPS = 8  # the sheet is this many strips wide
_AVERAGE_LETTER = 0.6  # of an em, to guess how many words fit on the sheet (those that do not wait)


def _over(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """cairo's OVER of two 8-bit alpha masks, rounded as pixman rounds it (where the ink of words meets)."""
    s, d = source.astype(np.uint32), target.astype(np.uint32)
    t = d * (255 - s) + 0x80
    return np.minimum(s + (((t >> 8) + t) >> 8), 255).astype(np.uint8)


class _Sheet(threading.local):
    """Per-thread canvas, several strips wide, on which Pango draws many words at once."""

    surface: cairo.ImageSurface | None = None


class WordImages:
    """Per-renderer cache of word images, keyed by the word, whether it starts the text, and the script.

    ``prepare`` draws the words a batch of texts lacks (many to a line, two tabs apart; first words on lines
    of their own), ``compose`` pastes them. Holds at most ``max_words`` images (then drops the older half),
    about 1.2 kB each with its key at 16 px (60 MB when full).
    """

    def __init__(self, renderer: TextRenderer, max_words: int = 50_000) -> None:
        self.renderer = renderer
        self.max_words = max_words
        self._images: dict[tuple[str, bool, int], tuple[np.ndarray, int, int, bool]] = {}
        self._font_chars: dict[str, bool] = {}
        self._sheet = _Sheet()
        self._lock = threading.Lock()

    def script(self, text: str) -> int | None:
        """Index of the one script a cleaned text's letters are in; None where it must be laid out whole."""
        if not _COMPOSABLE.fullmatch(text):
            return None
        found = [index for index, (letters, _) in enumerate(_SCRIPTS) if letters.search(text)]
        return found[0] if len(found) == 1 else None

    def _ensure_sheet(self) -> _Sheet:
        sheet, renderer = self._sheet, self.renderer
        if sheet.surface is None:
            sheet.width = _SHEET_STRIPS * renderer.max_pixels
            sheet.surface = cairo.ImageSurface(cairo.FORMAT_A8, sheet.width, renderer.patch_size)
            sheet.context = cairo.Context(sheet.surface)
            sheet.layout = renderer._layout(sheet.width // renderer.patch_size)
            sheet.font = sheet.layout.get_context().load_font(sheet.layout.get_font_description())
            sheet.pixels = np.ndarray(
                (renderer.patch_size, sheet.surface.get_stride()), dtype=np.uint8, buffer=sheet.surface.get_data()
            )
        return sheet

    def _draw_line(self, words: list[str], first: bool, script: int) -> list[str]:
        """Draw ``words`` on one line of the sheet and cache each; return those that ran past its end.
        ``first``: the words start their texts."""
        from pixel_st.renderer import LEFT_PAD, Pango  # Pango at the version the renderer requires

        renderer = self.renderer
        # cairo draws the first glyph run after a full clear, onto a surface it knows is empty, with SOURCE in
        # place of OVER: it adds the run's glyphs up before drawing them, where OVER draws them one over the
        # other (the two differ where glyphs overlap). So a text's first word is drawn with SOURCE, the others
        # with OVER. A first word with characters the renderer's font lacks (drawn from a fallback font, or as
        # a missing glyph's box) may be more than one run, and only its first is drawn so: such a word is drawn
        # alone, as its text's first run, on the strip canvas after a full clear.
        alone = first and not all(map(self._in_font, words))
        if len(words) > 1 and alone:
            return [word for word in words if self._draw_line([word], first, script)]
        if alone:
            sheet, prefix = renderer._ensure_canvas(), ""
        else:
            sheet, prefix = self._ensure_sheet(), _SCRIPTS[script][1] + "\t"
        sheet.layout.set_text(prefix + _GAP.join(words), -1)
        unknown = sheet.layout.get_unknown_glyphs_count() > 0
        if len(words) > 1 and unknown:  # tell which words lack a glyph
            return [word for word in words if self._draw_line([word], first, script)]
        layout = sheet.layout
        width = renderer.max_pixels if alone else sheet.width
        starts, ends = self._word_extents(layout, len(prefix.encode("utf-8")), words)
        origins = [start // Pango.SCALE for start in starts] + [width]
        # A word's ink lies between its origin and LEFT_PAD + its width + a patch (for overhangs); only its
        # first max_pixels can ever show.
        needed = [
            origin + min(LEFT_PAD + -(-(end - start) // Pango.SCALE) + renderer.patch_size, renderer.max_pixels)
            for origin, start, end in zip(origins, starts, ends)
        ]
        limits = [min(reach, following) for reach, following in zip(needed, origins[1:])]
        drawn = max(limits)
        operator = cairo.OPERATOR_SOURCE if first and not alone else cairo.OPERATOR_OVER
        renderer._show(sheet, None if alone else drawn, operator)
        inked = np.flatnonzero(sheet.pixels[:, :drawn].any(axis=0))  # each word's ink: from its first inked
        lefts = np.searchsorted(inked, origins[:-1]).tolist()  # column at or past its origin to its last
        rights = np.searchsorted(inked, limits).tolist()  # inked column before its limit
        left_over = []
        for word, origin, reach, left, right, start, end in zip(words, origins, needed, lefts, rights, starts, ends):
            if reach > width:
                left_over.append(word)
                continue
            column = int(inked[left]) if left < right else origin
            ink = sheet.pixels[:, column : int(inked[right - 1]) + 1 if left < right else origin].copy()
            self._store((word, first, script), (ink, column - origin, end - start, unknown))
        return left_over

    def _in_font(self, word: str) -> bool:
        """Whether the renderer's font has every character of ``word``."""
        for char in word:
            found = self._font_chars.get(char)
            if found is None:
                found = self._font_chars[char] = self._ensure_sheet().font.has_char(char)
            if not found:
                return False
        return True

    @staticmethod
    def _word_extents(layout, offset: int, words: list[str]) -> tuple[list[int], list[int]]:
        """Where each word starts and ends on the laid-out line (Pango units); ``offset``: its first byte."""
        if len(words) == 1 and not offset:
            return [0], [layout.get_size()[0]]
        to_x, starts, ends = layout.get_line_readonly(0).index_to_x, [], []
        for word in words:
            starts.append(to_x(offset, False))
            offset += len(word.encode("utf-8"))
            ends.append(to_x(offset, False))  # the gap's first tab
            offset += len(_GAP)
        ends[-1] = layout.get_size()[0]
        return starts, ends

    def _store(self, key: tuple[str, bool, int], image: tuple[np.ndarray, int, int, bool]) -> None:
        with self._lock:  # threads share the cache (each draws on its own canvas)
            if len(self._images) >= self.max_words:  # drop the older half; frequent words come back soon
                for old in list(itertools.islice(self._images, self.max_words // 2)):
                    del self._images[old]
            self._images[key] = image

    def prepare(self, texts: list[str], scripts: list[int | None]) -> None:
        """Draw the words of cleaned ``texts`` (with their :meth:`script`) not cached yet, many to a line."""
        renderer = self.renderer
        pending: dict[tuple[bool, int], dict[str, None]] = {}
        for text, script in zip(texts, scripts):
            if script is None:
                continue
            words = text.split(" ")[: renderer.max_seq_length]  # each takes a patch at least; more never show
            for index, word in enumerate(words):
                if (word, not index, script) not in self._images:
                    pending.setdefault((not index, script), {})[word] = None
        em = renderer.font_size * renderer.dpi / 72
        for (first, script), unique in pending.items():
            waiting = list(unique)
            while waiting:  # a line's first word always fits: the sheet is several strips wide
                line, room = [], self._ensure_sheet().width
                for word in waiting:
                    room -= len(word) * em * _AVERAGE_LETTER + len(_GAP) * renderer.patch_size
                    if line and room < 0:
                        break
                    line.append(word)
                waiting = self._draw_line(line, first, script) + waiting[len(line) :]

    def compose(self, text: str, script: int) -> tuple[np.ndarray, int, bool]:
        """The alpha mask (patch_size x max_pixels) of a cleaned text in ``script`` (see :meth:`script`),
        its width in px and whether a glyph was missing."""
        from pixel_st.renderer import Pango

        renderer, images = self.renderer, self._images
        canvas_width, scale = renderer.max_pixels, Pango.SCALE
        stop = renderer.patch_size * scale
        alpha = np.zeros((renderer.patch_size, canvas_width), dtype=np.uint8)
        x, inked_to, missing = 0, 0, False
        for index, word in enumerate(text.split(" ")):
            if index:
                x = (x // stop + 1) * stop  # the first stop at least one unit past the previous word
                if x >= canvas_width * scale:
                    break
            key = (word, not index, script)
            image = images.get(key)
            while image is None:  # not prepared, or dropped from a full cache (by another thread, too)
                self._draw_line([word], not index, script)
                image = images.get(key)
            ink, left, width, unknown = image
            missing |= unknown
            column = x // scale + left
            end = min(column + ink.shape[1], canvas_width)
            if end > column:
                if inked_to > column:  # ink of the previous word reaches here
                    shared = min(inked_to, end)
                    alpha[:, column:shared] = _over(ink[:, : shared - column], alpha[:, column:shared])
                    alpha[:, shared:end] = ink[:, shared - column : end - column]
                else:
                    alpha[:, column:end] = ink[:, : end - column]
                inked_to = max(inked_to, end)
            x += width
        return alpha, -(-x // scale), missing
