"""Word-vector distillation data: the vocabulary, the centred teacher vectors, and the drawn word rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixel_st import new_model
from pixel_st.word_vectors import centred_word_vectors, vocabulary, word_dataset

TEXTS = ["The cat sat on the mat.", "A dog sat, the dog ran.", "The end"]


def test_vocabulary_counts_lowercased_words_and_punctuation():
    words, counts = vocabulary(TEXTS, 4)
    assert words == ["the", "sat", ".", "dog"] and counts.tolist() == [4, 2, 2, 2]
    assert len(vocabulary(TEXTS, 100)[0]) == 11
    with pytest.raises(ValueError, match="no words"):
        vocabulary(["", "  "], 10)


def test_word_vectors_are_the_teachers_minus_their_mean_at_unit_length():
    teacher = new_model("tiny", seed=1)
    words = ["cat", "dog", "mat", "sat"]
    vectors = centred_word_vectors(teacher, words)
    raw = teacher.encode(words)
    expected = (raw - raw.mean(0)) / np.linalg.norm(raw - raw.mean(0), axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_rows_show_a_drawn_word_and_carry_its_clean_vector():
    teacher = new_model("tiny", seed=1)
    words, _ = vocabulary(TEXTS, 100)
    vectors = torch.from_numpy(centred_word_vectors(teacher, words))
    clean = word_dataset(teacher, TEXTS, samples=300, typo_rate=0.0)
    assert clean.column_names == ["text", "label"] and len(clean) == 300
    shown = clean["text"][:]
    assert {text.lower() for text in shown} <= set(words)
    assert any(text[0].isupper() and text.lower() != text for text in shown if text.isalpha())  # case variants
    for row in clean.select(range(20)):
        torch.testing.assert_close(row["label"], vectors[words.index(row["text"].lower())])
    # Drawn with probability proportional to sqrt(frequency): "the" (4 times) beats "cat" (once) about 2:1.
    lowered = [text.lower() for text in shown]
    assert 1.4 < lowered.count("the") / lowered.count("cat") < 3.0
    noisy = word_dataset(teacher, TEXTS, samples=300, typo_rate=1.0)
    assert sum(text.lower() not in words for text in noisy["text"][:]) > 250
