"""Word-aligned strips composed from cached word images equal Pango's own layout of the whole text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fontTools import subset
from fontTools.ttLib import TTFont

from pixel_st import DEFAULT_MODEL
from pixel_st.renderer import LEFT_PAD, RIGHT_PAD, TextRenderer, clean_text
from pixel_st.word_images import WordImages

COMPOSABLE = [
    "A man is playing a guitar.",
    "Two cows graze in a field.",  # a word after another is not drawn quite as it is alone
    "Crews worked to install a new culvert.",  # nor is the first word of a line as it is after another
    "Michael Jackson sang by James's fjord, Beer Jar\u201d.",  # J and y reach into the neighbouring patch
    "800 people (about 12.5%) said \u201cno\u201d \u2014 again!",  # digits and punctuation first
    "\u00abDer Stra\u00dfenk\u00f6nig\u00bb f\u00e4hrt \u00fcber 3 Br\u00fccken; \u00e7a va, se\u00f1or?",
    "Позднее этим летом компания запустит 800 горячих точек.",
    "США не могут 'окончательно определить' это. – «Только не у меня».",  # quotes take the script
    "\u00ab\u0422\u0430\u043a \u0441\u043a\u0430\u0437\u0430\u043b \u0418\u0432\u0430\u043d\u00bb, 2019 \u0433.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο; 42 φορές.",
    " ".join(["Supercalifragilistic"] * 40),  # runs past the end of the strip
]
# First words whose glyphs overlap (cairo draws a text's first glyph run with SOURCE, later ones with OVER)
FIRST_WORDS = ["Crews", "Windows", "Andrews", "KSTR's", "Fellows", "Zipf\u2019s", '"[T]he', "Wolf's", "Newspeak,"]
LAID_OUT_WHOLE = [
    "Он сказал hello",  # two scripts
    "一个男人在弹吉他。",
    "رجل يعزف على الغيتار",
    "cafe\u0301 au lait",  # a combining mark
    "123 456",  # no letters
    "\u03a2\u03bb\u03cc\u03b3\u03bf\u03c2 \u03ba\u03b1\u03b9",  # an unassigned code point in the Greek block
    "\u03e2\u03bb\u03cc\u03b3\u03bf\u03c2 \u03ba\u03b1\u03b9",  # a Coptic letter: a script of its own
]


def _pango(renderer: TextRenderer, text: str, max_patches: int) -> tuple[np.ndarray, int, bool]:
    return renderer._draw_layout(clean_text(text), max_patches)


def _end(renderer: TextRenderer, width: int, max_patches: int) -> int:
    return min(-(-(LEFT_PAD + width + RIGHT_PAD) // renderer.patch_size), max_patches - 1)


def _assert_pangos_strips(renderer: TextRenderer, texts: list[str], pixels: np.ndarray, lengths: np.ndarray) -> None:
    """``render_batch``'s strips of ``texts`` are those of Pango's layout of each whole text."""
    for text, strip, length in zip(texts, pixels, lengths):
        reference, width, _ = _pango(renderer, text, 64)
        end = _end(renderer, width, 64)
        assert length == end + 1
        assert np.array_equal(strip[:, : end * 16], 255 - reference[:, : end * 16]), text


@pytest.mark.parametrize("max_patches", [64, 12])
@pytest.mark.parametrize("text", COMPOSABLE)
def test_composed_strip_equals_pangos_layout(text, max_patches):
    renderer, text = TextRenderer(word_aligned=True), clean_text(text)
    images = WordImages(renderer)
    script = images.script(text)
    assert script is not None
    images.prepare([text], [script])  # the words after the first, drawn on one line
    alpha, width, missing = images.compose(text, script)
    unprepared = WordImages(renderer).compose(text, script)  # each word drawn on a line of its own
    assert np.array_equal(alpha, unprepared[0]) and (width, missing) == unprepared[1:]
    reference, reference_width, reference_missing = _pango(renderer, text, max_patches)
    end = _end(renderer, width, max_patches)
    assert end == _end(renderer, reference_width, max_patches) and missing == reference_missing
    assert np.array_equal(alpha[:, : end * 16], reference[:, : end * 16])
    assert alpha[:, : end * 16].any()


@pytest.mark.parametrize("text", LAID_OUT_WHOLE)
def test_texts_that_depend_on_their_neighbours_are_laid_out_whole(text):
    assert WordImages(TextRenderer(word_aligned=True)).script(clean_text(text)) is None


def test_first_words_drawn_many_to_a_line_equal_pangos_layout():
    renderer = TextRenderer(word_aligned=True)
    texts = [f"{word} went {index} times" for index, word in enumerate(FIRST_WORDS)] + COMPOSABLE
    pixels, lengths = renderer.render_batch(texts)  # the first words share lines of the sheet
    _assert_pangos_strips(renderer, texts, pixels, lengths)


def test_first_words_partly_in_a_fallback_font_equal_pangos_layout(tmp_path):
    # Noto Sans without K and I (which overlap): a first word's K and I come from a fallback font, as a second
    # glyph run, which cairo draws with OVER (only the first run after a full clear is drawn with SOURCE).
    font = TTFont(f"{DEFAULT_MODEL}/fonts/NotoSans-Regular.ttf")
    options = subset.Options()
    options.name_IDs, options.layout_features = ["*"], ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[code for code in range(0x20, 0x500) if code not in (0x399, 0x39A)])
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 4, 6, 16):
            record.string = "NoKappaIotaSans"
    font.save(tmp_path / "no-kappa-iota.ttf")
    renderer = TextRenderer(font=str(tmp_path / "no-kappa-iota.ttf"), word_aligned=True)
    texts = ["\u03b1\u039a\u0399 \u03b5\u03af\u03c0\u03b5.", "\u039b\u039a\u0399 \u03ba\u03b1\u03b9 \u039a\u0399.", "\u039a\u0399 \u03bb\u03ad\u03be\u03b7"]
    pixels, lengths = renderer.render_batch(texts)
    assert len(renderer._word_images._images) > 0
    _assert_pangos_strips(renderer, texts, pixels, lengths)


def test_cache_is_bounded_and_a_full_cache_gives_the_same_pixels():
    renderer = TextRenderer(word_aligned=True)
    text = "one two three four five six seven"
    small = WordImages(renderer, max_words=3)
    small.prepare([text], [0])
    first = small.compose(text, 0)
    assert len(small._images) <= 3
    again = small.compose(text, 0)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert np.array_equal(first[0], WordImages(renderer).compose(text, 0)[0])


def test_render_batch_takes_the_composed_path_and_matches_continuous_fallback_texts():
    renderer = TextRenderer(word_aligned=True)
    texts = COMPOSABLE[:3] + LAID_OUT_WHOLE[:2]
    pixels, lengths = renderer.render_batch(texts)
    assert len(renderer._word_images._images) > 0  # the Latin texts went through the cache
    _assert_pangos_strips(renderer, texts, pixels, lengths)


def test_threads_share_one_small_cache_and_draw_the_same_pixels():
    texts = COMPOSABLE * 4
    expected = TextRenderer(word_aligned=True).render_batch(texts)
    shared = TextRenderer(word_aligned=True)
    shared._word_images.max_words = 8  # words are dropped while other threads use them
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda text: shared.render_batch([text]), texts))
    for index, (pixels, lengths) in enumerate(results):
        assert lengths[0] == expected[1][index]
        assert np.array_equal(pixels[0], expected[0][index, :, : pixels.shape[2]])
