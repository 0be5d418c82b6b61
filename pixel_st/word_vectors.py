"""Word-vector distillation data: single words paired with a text teacher's centred vector of that word.

On word-aligned strips a word always draws the same patches, so "word image -> the teacher's vector of the
word" is a fixed map a small model can learn; mean pooling then adds up word vectors roughly in proportion
to word length. The length-weighted bag of all-MiniLM-L6-v2's centred word vectors scores 73.3 on STS-B dev
(docs/standin-attempts.md), far above what a CPU-trained stand-in reaches from sentences alone. Centring
(subtracting the mean word vector) removes the direction every word shares, which otherwise dominates.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
from datasets import Dataset
from sentence_transformers import SentenceTransformer

from pixel_st.distill import teacher_embeddings, with_labels
from pixel_st.perturb import typo_word

WORD = re.compile(r"\w+|[^\w\s]")
VOCABULARY_SIZE = 30_000  # the defaults of a recipe's `words` data (`vocabulary`, `samples`)
SAMPLES = 100_000


def vocabulary(texts: Iterable[str], size: int) -> tuple[list[str], np.ndarray]:
    """The ``size`` most frequent lowercased words (runs of word characters, or single punctuation marks) of
    ``texts`` and their counts."""
    counts = Counter(word.lower() for text in texts for word in WORD.findall(text))
    if not counts:
        raise ValueError("no words in the texts given for the vocabulary")
    words, frequencies = zip(*counts.most_common(size))
    return list(words), np.array(frequencies, dtype=np.float64)


def centred_word_vectors(teacher: SentenceTransformer, words: list[str], cache_dir: str | None = None) -> np.ndarray:
    """The teacher's embedding of each word, minus their mean, normalised to unit length."""
    vectors = teacher_embeddings(teacher, words, cache_dir).astype(np.float32)
    vectors -= vectors.mean(axis=0)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def word_dataset(
    teacher: SentenceTransformer,
    texts: Iterable[str],
    size: int = VOCABULARY_SIZE,
    samples: int = SAMPLES,
    typo_rate: float = 0.045,
    seed: int = 0,
    cache_dir: str | None = None,
) -> Dataset:
    """Columns ``text`` (a word) and ``label`` (its centred teacher vector) for a distillation loss.

    ``samples`` rows draw words from the vocabulary of ``texts`` with probability proportional to the square
    root of their frequency; a row shows the word as is, Capitalised (30 %) or in CAPITALS (5 %), and
    ``typo_rate`` of the rows with one typo (pixel_st.perturb.typo_word; the label stays the clean word's).
    """
    words, frequencies = vocabulary(texts, size)
    vectors = centred_word_vectors(teacher, words, cache_dir)
    probabilities = np.sqrt(frequencies) / np.sqrt(frequencies).sum()
    picks = np.random.default_rng(seed).choice(len(words), size=samples, p=probabilities)
    rng = random.Random(seed)
    shown = []
    for index in picks:
        word, draw = words[index], rng.random()
        word = word.capitalize() if draw < 0.3 else word.upper() if draw < 0.35 else word
        shown.append(typo_word(word, rng) if rng.random() < typo_rate else word)
    return with_labels(Dataset.from_dict({"text": shown}), vectors[picks])
