"""Renderer geometry, determinism, scripts and font errors."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from pixel_st.renderer import LEFT_PAD, RIGHT_PAD, TextRenderer, clean_text


@pytest.fixture(scope="module")
def renderer() -> TextRenderer:
    return TextRenderer()


def _ink_columns(strip: np.ndarray) -> np.ndarray:
    """Columns with any non-white pixel, the black end patch excluded."""
    return np.flatnonzero((strip[:, :-16] < 255).any(axis=0))


def test_strip_geometry_and_black_end_patch(renderer):
    strip = renderer.render("Hello world")
    assert strip.dtype == np.uint8 and strip.shape[0] == 16 and strip.shape[1] % 16 == 0
    assert (strip[:, -16:] == 0).all(), "last patch must be fully black"
    ink = _ink_columns(strip)
    assert ink.min() >= LEFT_PAD, "text starts at x=2"
    eos_start = strip.shape[1] - 16
    # The black patch is the first patch boundary at least 2 px after the text.
    assert ink.max() + 1 + RIGHT_PAD <= eos_start < ink.max() + 1 + RIGHT_PAD + 16 + 1


def test_known_lengths(renderer):
    pixels, lengths = renderer.render_batch(["", "Hello world", "x" * 2000])
    # Empty text: PIXEL's 2 + 0 + 2 px rounds up to one blank patch, then the black patch.
    assert lengths[0] == 2 and (pixels[0, :, :16] == 255).all() and (pixels[0, :, 16:32] == 0).all()
    assert 2 < lengths[1] < 10
    assert lengths[2] == renderer.max_seq_length, "overlong text is cut so the black patch is the last one"
    assert pixels.shape == (3, 16, renderer.max_seq_length * 16)
    assert (pixels[1, :, lengths[1] * 16 :] == 255).all(), "after its black patch a strip is white"


def test_max_patches_override(renderer):
    _, lengths = renderer.render_batch(["x" * 2000], max_patches=10)
    assert lengths[0] == 10


def test_text_is_vertically_centred(renderer):
    rows = np.flatnonzero((renderer.render("Hg")[:, :-16] < 128).any(axis=1))
    assert abs(rows.min() - (15 - rows.max())) <= 3


def test_whitespace_renders_as_a_tokenizer_sees_it(renderer):
    """Runs of any whitespace are one space and the ends have none: a stray space would shift every glyph."""
    plain = renderer.render("two lines here")
    for messy in ("two\nlines\r\nhere", "  two  lines here ", "two\tlines\u00a0\u3000here\u2028", "\ntwo lines here\n\n"):
        assert np.array_equal(renderer.render(messy), plain), repr(messy)
    assert np.array_equal(renderer.render(" \t\n "), renderer.render(""))


def test_clean_text_handles_unencodable_input():
    assert clean_text(" a\x00b\ud800c \x85") == "a\ufffdb\ufffdc"


def test_control_characters_draw_the_replacement_glyph_not_a_missing_one(caplog):
    renderer = TextRenderer()
    quoted = "\x84mis-decoded quotes\x93 and \x01\x7f"  # Windows-1252 quotes read as Latin-1: C1 controls
    with caplog.at_level(logging.WARNING, logger="pixel_st.renderer"):
        strip = renderer.render(quoted)
    assert not caplog.records
    assert np.array_equal(strip, renderer.render("\ufffdmis-decoded quotes\ufffd and \ufffd\ufffd"))


def _digest(text: str) -> str:
    return hashlib.sha256(TextRenderer().render(text).tobytes()).hexdigest()


def test_same_pixels_in_another_process():
    text = "Déterminisme: the same text gives the same pixels. مرحبا"
    code = f"from tests.test_renderer import _digest; print(_digest({text!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == _digest(text) == _digest(text)


def test_rtl_text_is_ordered_right_to_left(renderer):
    alef, bet = "\u05d0", "\u05d1"
    word, first_only, second_only = renderer.render(alef + bet), renderer.render(alef), renderer.render(bet)
    left = slice(0, _ink_columns(second_only).max() + 1)
    # In "alef bet" read right-to-left, bet is the leftmost glyph: the left columns match bet alone.
    assert np.array_equal(word[:, left], second_only[:, left])
    assert not np.array_equal(word[:, left], first_only[:, left])


def test_overlong_rtl_text_keeps_its_beginning():
    renderer = TextRenderer(max_seq_length=8)
    start = "\u05e9\u05dc\u05d5\u05dd"  # the first word
    long_text = start + " " + " ".join(["\u05e2\u05d5\u05dc\u05dd"] * 40)
    strip = renderer.render(long_text)
    assert strip.shape[1] == 8 * 16
    alone = renderer.render(start)
    # The first word sits at the right end of the visible text, as the text is cut to a fitting prefix.
    assert _ink_columns(strip).size > _ink_columns(alone).size


@pytest.mark.parametrize("text", ["مرحبا بالعالم", "你好，世界", "こんにちは", "안녕하세요", "Привет мир"])
def test_scripts_render_ink_without_missing_glyphs(renderer, text, caplog):
    with caplog.at_level(logging.WARNING, logger="pixel_st.renderer"):
        strip = renderer.render(text)
    assert (strip[:, :-16] < 128).sum() > 30
    assert not caplog.records


def test_missing_glyphs_are_reported_once(caplog):
    renderer = TextRenderer()
    with caplog.at_level(logging.WARNING, logger="pixel_st.renderer"):
        renderer.render("private use \U0010fffd")
        renderer.render("again \U0010fffd")
    assert len(caplog.records) == 1 and "No font covers" in caplog.records[0].getMessage()


def test_unknown_font_family_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown font family 'No Such Family'"):
        TextRenderer(font="No Such Family")


def test_missing_font_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Font file not found"):
        TextRenderer(font=str(tmp_path / "missing.ttf"))


def test_not_a_font_file_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font")
    with pytest.raises(ValueError, match="Not a readable font file"):
        TextRenderer(font=str(fake))


def test_font_file_and_fallback_folder_save_and_load(font_file, tmp_path):
    renderer = TextRenderer(font=font_file, fallback_fonts_dir=str(__import__("pathlib").Path(font_file).parent))
    renderer.save(str(tmp_path))
    assert (tmp_path / "fonts" / __import__("os").path.basename(font_file)).is_file()
    loaded = TextRenderer.load(str(tmp_path))
    assert loaded.font.startswith(str(tmp_path))
    assert np.array_equal(loaded.render("Font files travel with the model."), renderer.render("Font files travel with the model."))


def _word_patches(renderer: TextRenderer, prefix: str, word: str) -> tuple[np.ndarray, np.ndarray]:
    """The patches ``word`` fills after ``prefix`` (black patch dropped) and those it fills alone."""
    alone = renderer.render(word)[:, :-16]
    after = renderer.render(f"{prefix} {word}")[:, :-16]
    return after[:, -alone.shape[1] :], alone


@pytest.mark.parametrize("prefix", ["a", "The", "A quick", "Zebras graze", "I, too, have"])
def test_word_aligned_words_look_the_same_whatever_precedes_them(prefix):
    aligned = TextRenderer(word_aligned=True)
    after, alone = _word_patches(aligned, prefix, "flute")
    assert np.array_equal(after, alone)
    # Continuous (PIXEL) rendering draws the word at an offset that depends on the prefix's width.
    assert not np.array_equal(*_word_patches(TextRenderer(), prefix, "flute"))


def test_word_aligned_typo_leaves_the_other_words_patches_alone():
    clean, typo = "The cat sat on the mat.", "The caat sat on the mat."
    for word_aligned, same_tail in [(True, True), (False, False)]:
        renderer = TextRenderer(word_aligned=word_aligned)
        tail = renderer.render("sat on the mat.").shape[1] - 16
        a, b = renderer.render(clean)[:, :-16], renderer.render(typo)[:, :-16]
        assert np.array_equal(a[:, -tail:], b[:, -tail:]) is same_tail


def test_word_aligned_setting_saves_and_old_configs_load_continuous(tmp_path):
    TextRenderer(word_aligned=True).save(str(tmp_path))
    assert TextRenderer.load(str(tmp_path)).word_aligned is True
    config = tmp_path / "renderer_config.json"
    settings = json.loads(config.read_text())
    del settings["word_aligned"]  # as written before the setting existed
    config.write_text(json.dumps(settings))
    assert TextRenderer.load(str(tmp_path)).word_aligned is False
    with pytest.raises(ValueError, match="word_aligned"):
        TextRenderer(word_aligned="yes")


def test_word_aligned_prompt_ending_in_a_space_fills_its_last_patch():
    aligned, prompt, text = TextRenderer(word_aligned=True), "query: ", "A man plays a flute."
    filled = aligned.prefix_patches(prompt)
    assert filled == aligned.render(prompt).shape[1] // 16 - 1  # every patch the prompt draws on
    assert filled == TextRenderer().prefix_patches(prompt) + 1  # continuous: the last one is shared
    assert np.array_equal(aligned.render(prompt + text)[:, filled * 16 :], aligned.render(text))
    assert aligned.prefix_patches(prompt.strip()) == filled - 1  # glued to the text: shared again


@pytest.mark.parametrize("text", ["一个男人在弹吉他。", "東京タワーです"])
def test_word_aligned_chinese_and_japanese_characters_take_a_patch_each(text):
    aligned = TextRenderer(word_aligned=True)
    strip = aligned.render(text)
    for index, character in enumerate(text):
        assert np.array_equal(strip[:, index * 16 : (index + 1) * 16], aligned.render(character)[:, :16]), character
