"""The visually grounded perturbations: seeded, and doing what their names say."""

from __future__ import annotations

import random

import pytest

from pixel_st.perturb import conditional_shuffle, shuffle_words, typo_word, typos

TEXT = "the quick brown fox jumps over the lazy dog while seven tired farmers watch from a distant hill"


@pytest.mark.parametrize("function", [lambda t, s: typos(t, 0.3, s), shuffle_words, conditional_shuffle])
def test_seeded_and_deterministic(function):
    assert function(TEXT, 7) == function(TEXT, 7) == function(TEXT, random.Random(7))
    assert len({function(TEXT, seed) for seed in range(10)}) > 1


def test_shuffle_keeps_the_words():
    shuffled = shuffle_words(TEXT, 3)
    assert sorted(shuffled.split()) == sorted(TEXT.split()) and shuffled != TEXT


def test_conditional_shuffle_keeps_first_and_last_word_of_each_clause():
    text = "one two three four five, six seven eight nine ten; eleven twelve thirteen fourteen."
    for seed in range(20):
        out = conditional_shuffle(text, seed)
        clauses = [c.split() for c in out.replace(";", ",").split(",")]
        originals = [c.split() for c in text.replace(";", ",").split(",")]
        for new, old in zip(clauses, originals):
            assert new[0] == old[0] and new[-1] == old[-1] and sorted(new) == sorted(old)


def test_typo_rate_is_close_to_the_requested_one():
    words = (TEXT + " ") * 200
    for rate in (0.05, 0.1, 0.2):
        changed = sum(a != b for a, b in zip(words.split(), typos(words, rate, 1).split()))
        assert abs(changed / len(words.split()) - rate) < 0.02, rate


@pytest.mark.parametrize("seed", range(30))
def test_one_edit_per_typo(seed):
    word = "keyboard"
    out = typo_word(word, random.Random(seed))
    assert out != word and abs(len(out) - len(word)) <= 1
