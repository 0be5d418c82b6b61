"""Multi-task batches of a different size per task: the stock round robin, each task's batches re-cut.

The stock trainer draws every task's batches with one ``per_device_train_batch_size``. Word rows are a few
patches long and their contrastive term wants many in-batch negatives (512 words against 128 sentence pairs
in docs/standin-attempts.md, session 17), so a task may set its own ``batch_size``. Pass
``functools.partial(TaskSizedRoundRobinBatchSampler, batch_sizes=[...])`` (one size per task, in the
``DatasetDict``'s order) as ``multi_dataset_batch_sampler``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import accumulate

import torch
from sentence_transformers.base.sampler import RoundRobinBatchSampler
from torch.utils.data import BatchSampler, ConcatDataset


def valid_batch_sizes(sizes: list) -> bool:
    """Whether every size is a positive integer (a YAML ``true`` is not one)."""
    return all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in sizes)


def recut(batches: Iterable[list[int]], size: int, drop_last: bool) -> Iterator[list[int]]:
    """The indices of ``batches``, in their order, as batches of ``size`` (the last one shorter unless
    ``drop_last``)."""
    buffer: list[int] = []
    for batch in batches:
        buffer += batch
        while len(buffer) >= size:
            yield buffer[:size]
            buffer = buffer[size:]
    if buffer and not drop_last:
        yield buffer


class TaskSizedRoundRobinBatchSampler(RoundRobinBatchSampler):
    """One batch of each task in turn until one task runs out, as ``RoundRobinBatchSampler``; task ``i``'s
    batches hold ``batch_sizes[i]`` rows, cut from the stream its own batch sampler (shuffling, length
    grouping) yields."""

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
        batch_sizes: list[int] | None = None,
    ) -> None:
        super().__init__(dataset, batch_samplers, generator, seed)
        if batch_sizes is None or len(batch_sizes) != len(batch_samplers):
            raise ValueError(f"need one batch size per task ({len(batch_samplers)}), got {batch_sizes}")
        if not valid_batch_sizes(batch_sizes):
            raise ValueError(f"batch sizes must be positive integers, got {batch_sizes}")
        self.batch_sizes = list(batch_sizes)

    def __iter__(self) -> Iterator[list[int]]:
        if self.generator and self.seed is not None:
            self.generator.manual_seed(self.seed + self.epoch)
        offsets = [0, *accumulate(len(dataset) for dataset in self.dataset.datasets)]
        streams = [
            recut(sampler, size, sampler.drop_last) for sampler, size in zip(self.batch_samplers, self.batch_sizes)
        ]
        for batches in zip(*streams):
            for offset, batch in zip(offsets, batches):
                yield [index + offset for index in batch]

    def __len__(self) -> int:
        counts = []
        for dataset, sampler, size in zip(self.dataset.datasets, self.batch_samplers, self.batch_sizes):
            rows = len(sampler) * sampler.batch_size if sampler.drop_last else len(dataset)
            counts.append(rows // size if sampler.drop_last else math.ceil(rows / size))
        return min(counts) * len(counts)
