"""PangoCairo text renderer: a sentence becomes one grayscale strip of square patches (PIXEL geometry)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import threading

import numpy as np

try:
    import cairo
    import gi

    gi.require_version("Pango", "1.0")
    gi.require_version("PangoCairo", "1.0")
    gi.require_foreign("cairo")
    from gi.repository import Pango, PangoCairo
except (ImportError, ValueError) as error:  # ValueError: "Namespace Pango not available" (no typelib)
    raise ImportError(
        f"pixel_st draws text with Pango and cairo through PyGObject, which could not be loaded: {error}. "
        "On Debian/Ubuntu: apt-get install libcairo2-dev libgirepository1.0-dev gir1.2-pango-1.0 pkg-config "
        "fonts-noto-core, then pip install pycairo 'pygobject<3.51' (or run .ci/install in a source checkout)."
    ) from error

from pixel_st.fonts import check_family, font_files_in, is_font_path, register_font_file  # noqa: E402
from pixel_st.textfiles import read_json_object  # noqa: E402
from pixel_st.word_images import WordImages  # noqa: E402

logger = logging.getLogger(__name__)

RENDERER_CONFIG_NAME = "renderer_config.json"
FONTS_DIR = "fonts"
LEFT_PAD = 2  # px before the text, as in PIXEL
RIGHT_PAD = 2  # px after the text before rounding up to the next patch, as in PIXEL
WHITE = 255

# Control characters that are not whitespace (C0, DEL, C1) have no glyph: Pango would draw a hex box and
# count a missing glyph.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")

# Word-aligned rendering treats each Chinese or Japanese character (and CJK punctuation, fullwidth forms)
# as a word of its own: these scripts put no spaces between words, and one such glyph, 1 em wide (13.3 px
# at 8 pt and 120 dpi), fills one patch. No break goes before a combining mark or variation selector.
_CJK = "\u3000-\u3098\u309b-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f"
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe00-\ufe0f\ufe20-\ufe2f\U000e0100-\U000e01ef"
_WORD_BREAKS = re.compile(f" |(?<=[{_CJK}])(?=[^ {_MARKS}])|(?<=[^ ])(?=[{_CJK}])")


def clean_text(text: str) -> str:
    """Make any Python string safe to lay out on one line, with its whitespace as a tokenizer sees it.

    Every run of whitespace (spaces, tabs, line breaks, no-break and other Unicode spaces) becomes one
    space, and none is kept at either end: on a strip a stray space would move every glyph after it.
    Other control characters (e.g. the C1 codes of mis-decoded Windows-1252 quotes) and lone surrogates
    (not encodable as UTF-8) become U+FFFD, the replacement glyph.
    """
    text = " ".join(_CONTROLS.sub("\ufffd", text).split())
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class _Canvas(threading.local):
    """Per-thread cairo surface and Pango layout (neither is safe to share between threads)."""

    surface: cairo.ImageSurface | None = None


class TextRenderer:
    """Renders text into a 1-patch-high strip: black text on white, then one black end-of-sequence patch.

    Geometry follows PIXEL: text starts at x=2, the black patch sits at the first patch boundary at least
    2 px after the text, and text longer than ``max_seq_length`` patches is cut so the black patch is last.
    The attention mask of a strip covers its text patches and the black patch.

    Args:
        font: a font family name known to fontconfig (e.g. ``"Noto Sans"``) or a path to a font file.
        font_size: font size in points.
        dpi: rendering resolution; 8 pt at 120 dpi is PIXEL's setting.
        patch_size: patch side in pixels, also the strip height.
        max_seq_length: the most patches a strip may have, black patch included.
        fallback_fonts_dir: optional folder of font files registered for glyphs the main font lacks.
        word_aligned: start every word at a patch boundary (2 px in, like the first word) instead of
            drawing the text continuously as PIXEL does. A word then looks the same in every patch it
            fills whatever precedes it, and a typo changes only its own word's patches; the cost is about
            12 % more patches (STS-B sentences). Words end at spaces; each Chinese or Japanese character is
            a word of its own; other scripts written without spaces (Thai, Khmer) stay continuous. Off for
            PIXEL and Pixel-Linguist checkpoints.
    """

    def __init__(
        self,
        font: str = "Noto Sans",
        font_size: float = 8,
        dpi: int = 120,
        patch_size: int = 16,
        max_seq_length: int = 64,
        fallback_fonts_dir: str | None = None,
        word_aligned: bool = False,
    ) -> None:
        if not isinstance(font, str) or not font:
            raise ValueError(f"font must be a family name or a font file path, got {font!r}")
        if font_size <= 0 or dpi <= 0 or patch_size <= 0:
            raise ValueError("font_size, dpi and patch_size must be positive")
        if not isinstance(word_aligned, bool):
            raise ValueError(f"word_aligned must be true or false, got {word_aligned!r}")
        self.font = os.path.abspath(font) if is_font_path(font) else font
        self.font_size = font_size
        self.dpi = dpi
        self.patch_size = patch_size
        self.fallback_fonts_dir = os.path.abspath(fallback_fonts_dir) if fallback_fonts_dir else None
        self.word_aligned = word_aligned
        self.max_seq_length = max_seq_length
        self.family = self._register_fonts()
        if not is_font_path(self.font):
            check_family(self.font)
        self._canvas = _Canvas()
        self._word_images = WordImages(self)
        self._warned_unknown_glyphs = False
        self._warned_prefix_direction = False
        self._baseline_y = self._fixed_baseline()

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"max_seq_length must be an int >= 2 (a text patch and the black patch), got {value!r}")
        self._max_seq_length = value
        if getattr(self, "_canvas", None) is not None:
            self._canvas = _Canvas()  # surfaces, and word images cut at their edge, are sized by max_seq_length
            self._word_images = WordImages(self)

    @property
    def max_pixels(self) -> int:
        return self.max_seq_length * self.patch_size

    # -- drawing state, rebuilt per thread and after unpickling -------------------------------------------

    def _layout(self, tab_stops: int | None = None) -> Pango.Layout:
        """A Pango layout in the renderer's font; word-aligned, with a tab stop at each of the first
        ``tab_stops`` (default: max_seq_length) patch boundaries."""
        fontmap = PangoCairo.FontMap.new()
        context = fontmap.create_context()
        PangoCairo.context_set_resolution(context, self.dpi)
        options = cairo.FontOptions()
        options.set_antialias(cairo.ANTIALIAS_GRAY)
        options.set_hint_style(cairo.HINT_STYLE_NONE)
        options.set_hint_metrics(cairo.HINT_METRICS_OFF)
        PangoCairo.context_set_font_options(context, options)
        layout = Pango.Layout.new(context)
        description = Pango.FontDescription()
        description.set_family(self.family)
        description.set_size(round(self.font_size * Pango.SCALE))
        layout.set_font_description(description)
        layout.set_single_paragraph_mode(True)
        if self.word_aligned:  # a tab stop at every patch boundary; _set_text turns spaces into tabs
            tab_stops = tab_stops or self.max_seq_length
            tabs = Pango.TabArray.new(tab_stops, True)
            for i in range(tab_stops):
                tabs.set_tab(i, Pango.TabAlign.LEFT, (i + 1) * self.patch_size)
            layout.set_tabs(tabs)
        return layout

    def _ensure_canvas(self) -> _Canvas:
        canvas = self._canvas
        if canvas.surface is None:
            canvas.surface = cairo.ImageSurface(cairo.FORMAT_A8, self.max_pixels, self.patch_size)
            canvas.context = cairo.Context(canvas.surface)
            canvas.layout = self._layout()
            canvas.pixels = np.ndarray(
                (self.patch_size, canvas.surface.get_stride()), dtype=np.uint8, buffer=canvas.surface.get_data()
            )
        return canvas

    def _fixed_baseline(self) -> float:
        """Baseline height (px) that centres the ink of "Hg" (cap top to descender); fixed per renderer,
        so a word never moves vertically whatever else the sentence holds."""
        layout = self._layout()
        layout.set_text("Hg", -1)
        ink, _ = layout.get_pixel_extents()
        return round((self.patch_size - ink.height) / 2 - ink.y + layout.get_baseline() / Pango.SCALE)

    def _register_fonts(self) -> str:
        """Register the fallback folder and the font file (if any) with fontconfig; return the family.
        Registration is per process, so unpickling in a new process does it again."""
        if self.fallback_fonts_dir:
            for path in font_files_in(self.fallback_fonts_dir):
                register_font_file(path)
        return register_font_file(self.font) if is_font_path(self.font) else self.font

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_canvas"], state["_word_images"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._register_fonts()
        self._canvas = _Canvas()
        self._word_images = WordImages(self)

    # -- rendering -----------------------------------------------------------------------------------------

    def _set_text(self, layout: Pango.Layout, text: str, limit: int) -> int:
        """Lay out ``text``; return its width in px. RTL text too wide for the strip is cut to the prefix
        that fits, so the strip shows the sentence's beginning (LTR text is simply clipped on the right).
        Word-aligned, each space (``text`` is cleaned: single spaces) and each break beside a Chinese or
        Japanese character becomes a tab."""
        if self.word_aligned:
            text = _WORD_BREAKS.sub("\t", text)
        layout.set_text(text, -1)
        width = layout.get_pixel_size()[0]
        if width <= limit or Pango.find_base_dir(text, -1) != Pango.Direction.RTL:
            return width
        low, high = 0, len(text)  # longest prefix whose width fits
        while low < high:
            middle = (low + high + 1) // 2
            layout.set_text(text[:middle], -1)
            if layout.get_pixel_size()[0] <= limit:
                low = middle
            else:
                high = middle - 1
        layout.set_text(text[:low], -1)
        return layout.get_pixel_size()[0]

    def _show(
        self, canvas: _Canvas, clear_width: int | None = None, operator: cairo.Operator = cairo.OPERATOR_OVER
    ) -> None:
        """Clear the canvas (its first ``clear_width`` px, when the layout draws nothing beyond) and draw its
        layout from the strip's origin, the baseline at its fixed height, with cairo's ``operator``."""
        layout, context = canvas.layout, canvas.context
        context.set_operator(cairo.OPERATOR_CLEAR)
        if clear_width is None:
            context.paint()
        else:
            context.rectangle(0, 0, clear_width, self.patch_size)
            context.fill()
        context.set_operator(operator)
        context.move_to(LEFT_PAD, self._baseline_y - layout.get_baseline() / Pango.SCALE)
        PangoCairo.show_layout(context, layout)
        canvas.surface.flush()

    def _draw_layout(self, text: str, max_patches: int) -> tuple[np.ndarray, int, bool]:
        """Lay out and draw a cleaned text whole; return the canvas alpha, the text's width in px and
        whether a glyph was missing."""
        canvas = self._ensure_canvas()
        visible = (max_patches - 1) * self.patch_size - LEFT_PAD
        width = self._set_text(canvas.layout, text, visible)
        self._show(canvas)
        return canvas.pixels, width, canvas.layout.get_unknown_glyphs_count() > 0

    def _draw(self, text: str, script: int | None, max_patches: int) -> tuple[np.ndarray, int]:
        """Draw one cleaned text; return its alpha (patch_size x at least max_pixels) and the black patch
        index. Word-aligned text in one Latin, Cyrillic or Greek ``script`` is composed from cached word
        images (Pango's pixels, faster; pixel_st/word_images.py), other text is laid out whole."""
        if script is not None:
            alpha, width, missing = self._word_images.compose(text, script)
        else:
            alpha, width, missing = self._draw_layout(text, max_patches)
        if missing and not self._warned_unknown_glyphs:
            self._warned_unknown_glyphs = True
            logger.warning(
                "No font covers some characters of %r (rendered as boxes); further cases are not reported. "
                "Add a font for this script via fallback_fonts_dir.",
                text[:80],
            )
        end = math.ceil((LEFT_PAD + width + RIGHT_PAD) / self.patch_size)
        return alpha, min(end, max_patches - 1)

    def _limit(self, max_patches: int | None) -> int:
        if max_patches is None:
            return self.max_seq_length
        if max_patches < 2:
            raise ValueError(f"max_patches must be >= 2, got {max_patches}")
        return min(max_patches, self.max_seq_length)

    def prefix_patches(self, prefix: str, max_patches: int | None = None) -> int:
        """How many patches at the start of a strip hold nothing but ``prefix`` when a text follows it (as
        a prompt does): the patches it fills completely, so the one it shares with the text is not counted,
        nor the black patch. A prefix that does not start left-to-right (right-to-left, or only digits and
        punctuation) counts 0, with a warning: the bidi algorithm may draw it to the right of the text.
        Word-aligned, a prefix ending in whitespace also fills the patch of its last word."""
        separated = self.word_aligned and prefix[-1:].isspace()
        prefix = clean_text(prefix)[: self.max_pixels]
        if not prefix:
            return 0
        if Pango.find_base_dir(prefix, -1) != Pango.Direction.LTR:
            if not self._warned_prefix_direction:
                self._warned_prefix_direction = True
                logger.warning(
                    "Cannot tell which patches the prompt %r fills (it has no left-to-right letter before any "
                    "right-to-left one); none are counted.",
                    prefix[:80],
                )
            return 0
        layout = self._ensure_canvas().layout
        width = self._set_text(layout, prefix + " " if separated else prefix, self.max_pixels)
        filled = (LEFT_PAD + width) // self.patch_size
        return min(filled, self._limit(max_patches) - 1)

    def render(self, text: str, max_patches: int | None = None) -> np.ndarray:
        """Render one text to a uint8 array (patch_size, n * patch_size); the last patch is the black one."""
        pixels, lengths = self.render_batch([text], max_patches)
        return pixels[0, :, : lengths[0] * self.patch_size]

    def render_batch(self, texts: list[str], max_patches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Render texts into one array cropped to the longest strip.

        Returns:
            pixels: uint8 (len(texts), patch_size, n_max * patch_size), white after each strip's black patch.
            lengths: int64 (len(texts),), patches per strip including the black patch (the attention mask length).
        """
        limit = self._limit(max_patches)
        size = self.patch_size
        strips = []  # text part of each strip, black on white; the batch array is sized once all are known
        lengths = np.empty(len(texts), dtype=np.int64)
        texts = [clean_text(text)[: self.max_pixels] for text in texts]  # glyphs are >= 1 px: the rest never shows
        scripts = [self._word_images.script(text) if self.word_aligned else None for text in texts]
        if self.word_aligned:
            self._word_images.prepare(texts, scripts)
        for i, (text, script) in enumerate(zip(texts, scripts)):
            alpha, eos = self._draw(text, script, limit)
            strips.append(WHITE - alpha[:, : eos * size])
            lengths[i] = eos + 1
        out = np.full((len(texts), size, int(lengths.max(initial=1)) * size), WHITE, dtype=np.uint8)
        for i, strip in enumerate(strips):
            width = strip.shape[1]
            out[i, :, :width] = strip
            out[i, :, width : width + size] = 0
        return out, lengths

    # -- persistence -------------------------------------------------------------------------------------

    def config_dict(self) -> dict:
        return {
            "font": self.font,
            "font_size": self.font_size,
            "dpi": self.dpi,
            "patch_size": self.patch_size,
            "max_seq_length": self.max_seq_length,
            "fallback_fonts_dir": self.fallback_fonts_dir,
            "word_aligned": self.word_aligned,
        }

    def save(self, folder: str) -> None:
        """Write ``renderer_config.json``; font files are copied under ``fonts/`` and stored relative."""
        config = self.config_dict()
        if is_font_path(self.font):
            os.makedirs(os.path.join(folder, FONTS_DIR), exist_ok=True)
            config["font"] = os.path.join(FONTS_DIR, os.path.basename(self.font))
            _copy(self.font, os.path.join(folder, config["font"]))
        if self.fallback_fonts_dir:
            config["fallback_fonts_dir"] = os.path.join(FONTS_DIR, "fallback")
            os.makedirs(os.path.join(folder, config["fallback_fonts_dir"]), exist_ok=True)
            for path in font_files_in(self.fallback_fonts_dir):
                _copy(path, os.path.join(folder, config["fallback_fonts_dir"], os.path.basename(path)))
        with open(os.path.join(folder, RENDERER_CONFIG_NAME), "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2)

    @classmethod
    def load(cls, folder: str) -> TextRenderer:
        """Rebuild a renderer saved by :meth:`save`; relative font paths resolve inside ``folder``."""
        path = os.path.join(folder, RENDERER_CONFIG_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Not a pixel_st model folder: {RENDERER_CONFIG_NAME} is missing in {folder}")
        config = read_json_object(path, "renderer config")
        for key in ("font", "fallback_fonts_dir"):
            value = config.get(key)
            if value and (key == "fallback_fonts_dir" or is_font_path(value)):
                config[key] = os.path.join(folder, value)
        try:
            return cls(**config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Bad renderer config {path}: {error}") from None

    def __repr__(self) -> str:
        return f"TextRenderer({self.config_dict()})"


def _copy(source: str, target: str) -> None:
    if os.path.abspath(source) != os.path.abspath(target):
        shutil.copyfile(source, target)
