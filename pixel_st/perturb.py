"""Visually grounded perturbations (the paper's stage-1 positives and our robustness tests), seeded.

Each function takes a text and a ``random.Random`` (or an int seed) and returns a new text; words are
whitespace-separated tokens and are re-joined with single spaces.
"""

from __future__ import annotations

import random
import re
import string

TYPO_EDITS = ("insert", "delete", "substitute", "swap")
_CLAUSE_END = re.compile(r"(?<=[,;:.!?])\s+")


def _rng(seed: int | random.Random) -> random.Random:
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def typo_word(word: str, rng: random.Random) -> str:
    """One character edit: insert, delete, substitute or swap two adjacent characters."""
    edits = TYPO_EDITS if len(word) > 1 else ("insert", "substitute")
    edit = rng.choice(edits)
    position = rng.randrange(len(word))
    letter = rng.choice(string.ascii_lowercase)
    if edit == "insert":
        return word[:position] + letter + word[position:]
    if edit == "delete":
        return word[:position] + word[position + 1 :]
    if edit == "substitute":
        others = [c for c in string.ascii_lowercase if c != word[position].lower()]
        return word[:position] + rng.choice(others) + word[position + 1 :]
    position = min(position, len(word) - 2)
    return word[:position] + word[position + 1] + word[position] + word[position + 2 :]


def typos(text: str, rate: float, seed: int | random.Random = 0) -> str:
    """Give each word, with probability ``rate``, one character typo."""
    rng = _rng(seed)
    return " ".join(typo_word(w, rng) if rng.random() < rate else w for w in text.split())


def shuffle_words(text: str, seed: int | random.Random = 0) -> str:
    """Random word order."""
    words = text.split()
    _rng(seed).shuffle(words)
    return " ".join(words)


def conditional_shuffle(text: str, seed: int | random.Random = 0) -> str:
    """Shuffle words inside each clause (split after , ; : . ! ?), keeping each clause's first and last word."""
    rng = _rng(seed)
    clauses = []
    for clause in _CLAUSE_END.split(text.strip()):
        words = clause.split()
        if len(words) > 3:
            middle = words[1:-1]
            rng.shuffle(middle)
            words = [words[0], *middle, words[-1]]
        clauses.append(" ".join(words))
    return " ".join(clause for clause in clauses if clause)
