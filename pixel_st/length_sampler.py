"""Length-grouped training batches: a sentence-transformers batch sampler for ``batch_sampler=``.

The encoder crops every batch to its longest strip, so a batch's cost is ``batch size x longest row``. Random
batches of 64 Wikipedia sentences compute 1.45 positions per position that holds text, length-grouped
ones 1.05 (``benchmarks/length_grouping.py``). This is transformers' ``group_by_length``
recipe on sentence-transformers' ``DefaultBatchSampler``: shuffle, cut the order into pools of
``POOL_BATCHES`` batches, sort each pool by length, cut it into batches, shuffle the batches.

Sorting puts rows that share a text side by side (an NLI premise with several hypotheses), where an in-batch
loss would take the copies for negatives: 16 % of the NLI triplets' rows in batches of 256 against 3 % in
random ones. So a row whose text its batch already holds waits for the next batch, as in the stock
``NoDuplicatesBatchSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler

POOL_BATCHES = 64


def text_columns(schema: pa.Schema) -> list[str]:
    """The names of an Arrow schema's string columns."""
    return [field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)]


def text_arrays(dataset: Dataset, skip: list[str] | None = None) -> list[pa.ChunkedArray]:
    """The dataset's text columns but ``skip``, read from its Arrow table, so on-the-fly transforms
    (augmentations) are not run."""
    table = dataset.with_format("arrow")[:]
    columns = [name for name in text_columns(table.schema) if name not in (skip or [])]
    if not columns:
        raise ValueError(f"length-grouped batches need a text column; the dataset has {table.column_names}")
    return [table.column(name) for name in columns]


def row_lengths(dataset: Dataset, skip: list[str] | None = None) -> np.ndarray:
    """Characters of each row's longest text column (a cheap stand-in for its strip width)."""
    lengths = [pc.fill_null(pc.utf8_length(column), 0).to_numpy() for column in text_arrays(dataset, skip)]
    return np.max(np.stack(lengths), axis=0)


def row_texts(dataset: Dataset, skip: list[str] | None = None) -> np.ndarray:
    """Hashes of each row's texts, a column per text column (rows x columns); a missing text matches none."""
    columns = [column.to_pylist() for column in text_arrays(dataset, skip)]
    hashes = [[hash(text) if text is not None else ~row for row, text in enumerate(column)] for column in columns]
    return np.array(hashes, dtype=np.int64).T


def deal(order: np.ndarray, texts: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``batch_size`` in which no text appears twice: a row whose text the
    batch already holds waits for the next batch, ahead of the rows after it. The last batch takes what is
    left as it is."""
    batches, waiting, position = [], [], 0
    while len(order) - position + len(waiting) > batch_size:
        batch, seen, held = [], set(), []

        def offer(row: int) -> None:
            keys = texts[row].tolist()
            if len(batch) < batch_size and seen.isdisjoint(keys):
                batch.append(row)
                seen.update(keys)
            else:
                held.append(row)

        for row in waiting:
            offer(row)
        while len(batch) < batch_size and position < len(order):
            offer(order[position])
            position += 1
        batches.append(np.array(batch, dtype=order.dtype))
        waiting = held
    rest = np.concatenate([np.array(waiting, dtype=order.dtype), order[position:]])
    return batches + ([rest] if len(rest) else [])


def padding_factor(batches: list[list[int]], lengths: np.ndarray) -> float:
    """Positions a model computes for ``batches`` (batch size x longest row) per position that holds text."""
    computed = sum(len(batch) * lengths[batch].max() for batch in batches)
    return float(computed / lengths[np.concatenate(batches)].sum())


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Random batches of rows of similar length; pass the class as ``batch_sampler`` in
    ``SentenceTransformerTrainingArguments``. Each epoch (``set_epoch``) draws a new order from ``seed``."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        self.lengths = row_lengths(dataset, valid_label_columns)
        self.texts = row_texts(dataset, valid_label_columns)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * POOL_BATCHES
        chunks = [order[start : start + pool] for start in range(0, len(order), pool)]
        by_length = [chunk[np.argsort(-self.lengths[chunk], kind="stable")] for chunk in chunks]
        batches = deal(np.concatenate([order[:0], *by_length]), self.texts, self.batch_size)
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        for index in rng.permutation(len(batches)):
            yield batches[index].tolist()
