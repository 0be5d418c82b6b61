"""Training data as `datasets.Dataset`s, from local files in the formats of the shared data folder or the hub.

Every loader returns columns in the order the losses read them: (anchor, positive[, negative]) for
contrastive stages, (text columns..., label) for distillation.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from datasets import Dataset

from pixel_st.length_sampler import text_columns
from pixel_st.sts import HEADER, read_sts
from pixel_st.textfiles import open_text, tsv_header

METADATA_COLUMNS = ("source", "lang_label", "language", "label", "pair_id")  # columns that hold no sentences
MIN_SCORE = 4.0  # the default gold score of an STS pair kept as paraphrases: 4 of STS-B's 0-5, "mostly equivalent"


def read_tsv(path: str | Path) -> list[dict[str, str]]:
    """A TSV file with a header line and no quoting."""
    with open_text(path) as file:
        return list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_lines(path: str | Path, limit: int | None = None) -> list[str]:
    """A sentence-per-line corpus; blank lines dropped."""
    lines = []
    with open_text(path) as file:
        for line in file:
            if line.strip():
                lines.append(line.strip())
                if limit is not None and len(lines) >= limit:
                    break
    return lines


def sentences(path: str | Path, limit: int | None = None, languages: list[str] | None = None) -> Dataset:
    """Column ``text``: the lines of a sentence-per-line file, every distinct sentence of an STS file, or
    every distinct sentence in the sentence columns of a parallel or NLI TSV (those named in ``languages``,
    e.g. ``[de, zh]`` or ``[premise]``, or all of them; labels, ids and language codes are no sentences)."""
    if ".tsv" not in Path(path).name:
        return Dataset.from_dict({"text": read_lines(path, limit)})
    header = tsv_header(path)
    if header == HEADER:
        first, second, _ = read_sts(path)
        texts = first + second
    else:
        rows = read_tsv(path)
        columns = [c for c in header if c not in METADATA_COLUMNS and (languages is None or c in languages)]
        if not columns:
            raise ValueError(f"{path}: no sentence column among {header} matches languages {languages}")
        texts = [row[column] for row in rows for column in columns if row[column]]
    return Dataset.from_dict({"text": list(dict.fromkeys(texts))[:limit]})


def comparison_key(text: str) -> str:
    """``text`` case-folded with everything but letters and digits dropped: a tokenised copy of a sentence
    (``it 's`` for ``it's``) has the same key."""
    return "".join(character for character in text.casefold() if character.isalnum())


def without_texts(dataset: Dataset, texts: list[str]) -> Dataset:
    """The rows of ``dataset`` none of whose text columns holds one of ``texts`` (by :func:`comparison_key`),
    e.g. training rows kept apart from the sentences of a dev set."""
    keys = {key for text in texts if (key := comparison_key(text))}  # a text of punctuation alone matches none
    columns = text_columns(dataset.features.arrow_schema)
    return dataset.filter(lambda row: all(comparison_key(row[name]) not in keys for name in columns))


def nli_triplets(path: str | Path, with_negatives: bool = True, limit: int | None = None) -> Dataset:
    """(anchor, positive[, negative]) from premise/hypothesis/label rows: entailments are positives,
    contradictions of the same premise the hard negatives (premises without one are skipped then)."""
    entailed, contradicted = defaultdict(list), defaultdict(list)
    for row in read_tsv(path):
        label = str(row["label"]).strip().lower()
        if label in ("entailment", "0"):
            entailed[row["premise"]].append(row["hypothesis"])
        elif label in ("contradiction", "2"):
            contradicted[row["premise"]].append(row["hypothesis"])
    rows: dict[str, list[str]] = {"anchor": [], "positive": []}
    if with_negatives:
        rows["negative"] = []
    for premise, positives in entailed.items():
        if with_negatives and not contradicted[premise]:
            continue
        for index, positive in enumerate(positives):
            rows["anchor"].append(premise)
            rows["positive"].append(positive)
            if with_negatives:
                rows["negative"].append(contradicted[premise][index % len(contradicted[premise])])
    dataset = Dataset.from_dict(rows)
    return dataset.select(range(min(limit, len(dataset)))) if limit else dataset


def parallel_pairs(path: str | Path, source: str = "english", target: str | None = None, limit: int | None = None) -> Dataset:
    """(anchor, positive) = (English, translation) from a parallel TSV; ``target`` defaults to the first
    column that is neither the source nor metadata."""
    rows = read_tsv(path)
    if not rows:
        raise ValueError(f"{path} has no rows")
    if source not in rows[0]:
        source = "en" if "en" in rows[0] else source
    columns = [c for c in rows[0] if c != source and c not in METADATA_COLUMNS]
    target = target or columns[0]
    pairs = [(r[source], r[target]) for r in rows if r.get(source) and r.get(target)][:limit]
    return _pair_dataset(pairs)


def translated_pairs(english: str | Path, path: str | Path, limit: int | None = None) -> Dataset:
    """(anchor, positive) = (English, translation) from two STS files of the same pairs in the same order,
    the second machine-translated (``sts/stsb_en_train`` and ``sts/stsb_multi_mt/stsb_ja_train``): both
    sentences of every row, each distinct pair once."""
    (english_first, english_second, _), (first, second, _) = _row_by_row(english, path)
    pairs = [(a, b) for a, b in dict.fromkeys(zip(english_first + english_second, first + second)) if a and b][:limit]
    return _pair_dataset(pairs)


def _row_by_row(english: str | Path, path: str | Path) -> tuple[tuple, tuple]:
    """``read_sts`` of both files, checked to be a translation of each other: the same number of rows, and
    every row scored the same."""
    english_rows, rows = read_sts(english), read_sts(path)
    english_scores, scores = english_rows[2], rows[2]
    if len(scores) != len(english_scores):
        raise ValueError(f"{path} has {len(scores)} pairs and {english} {len(english_scores)}: not a row-by-row translation")
    for row, (score, english_score) in enumerate(zip(scores, english_scores), start=1):
        if score != english_score:
            raise ValueError(f"{path} row {row} scores {score}, {english} {english_score}: not a row-by-row translation")
    return english_rows, rows


def similar_pairs(path: str | Path, min_score: float = MIN_SCORE, limit: int | None = None,
                  english: str | Path | None = None) -> Dataset:
    """(anchor, positive) = the two sentences of every pair of an STS file scored at least ``min_score``
    (gold similarity on the file's own scale), each distinct pair once: paraphrases as contrastive positives,
    the scores themselves unused. With ``english``, the STS file that ``path`` translates row by row, each
    kept pair crosses the languages instead: (English first, translated second) and (translated first,
    English second)."""
    if english is None:
        first, second, scores = read_sts(path)
        candidates = zip(first, second, scores)
    else:
        (english_first, english_second, scores), (first, second, _) = _row_by_row(english, path)
        candidates = [*zip(english_first, second, scores), *zip(first, english_second, scores)]
    kept = dict.fromkeys((a, b) for a, b, score in candidates if score >= min_score and a and b)
    pairs = list(kept)[:limit]
    return _pair_dataset(pairs)


def _pair_dataset(pairs: list[tuple[str, str]]) -> Dataset:
    return Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]})


def span_pairs(path: str | Path, window: int = 8, limit: int | None = None, seed: int = 0) -> Dataset:
    """Topical positives: two different sentences from the same block of ``window`` consecutive lines of a
    corpus in document order (the shared Wikipedia file has no document markers, so blocks stand in for
    documents and may straddle a boundary)."""
    lines = read_lines(path, limit)
    rng = random.Random(seed)
    anchors, positives = [], []
    for start in range(0, len(lines) - 1, window):
        block = lines[start : start + window]
        for index, sentence in enumerate(block):
            others = [other for j, other in enumerate(block) if j != index]
            if others:
                anchors.append(sentence)
                positives.append(rng.choice(others))
    return Dataset.from_dict({"anchor": anchors, "positive": positives})


def hub(name: str, split: str = "train", **kwargs) -> Dataset:
    """A dataset from the Hugging Face hub (needs network access), e.g. ``sentence-transformers/all-nli``."""
    from datasets import load_dataset

    return load_dataset(name, split=split, **kwargs)
