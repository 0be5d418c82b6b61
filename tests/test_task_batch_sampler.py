"""Per-task batch sizes in multi-task training: the batches the trainer's data loader would draw."""

import pytest
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler, RoundRobinBatchSampler
from torch.utils.data import ConcatDataset, RandomSampler

from pixel_st.length_sampler import LengthGroupedBatchSampler
from pixel_st.task_batch_sampler import TaskSizedRoundRobinBatchSampler, recut


def _tasks(rows, sampler=DefaultBatchSampler, batch_size=8, drop_last=False, generator=None):
    datasets = [Dataset.from_dict({"text": ["w" * (1 + i % 7) for i in range(n)]}) for n in rows]
    if sampler is DefaultBatchSampler:  # as the trainer builds it: over a RandomSampler of the rows
        samplers = [sampler(RandomSampler(dataset, generator=generator), batch_size=batch_size, drop_last=drop_last) for dataset in datasets]
    else:
        samplers = [sampler(dataset, batch_size=batch_size, drop_last=drop_last) for dataset in datasets]
    return ConcatDataset(datasets), samplers


def test_recut_keeps_every_index_in_order():
    assert list(recut([[0, 1, 2], [3, 4], [5, 6, 7, 8]], 4, drop_last=False)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert list(recut([[0, 1, 2], [3, 4], [5, 6, 7, 8]], 4, drop_last=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize("sampler", [DefaultBatchSampler, LengthGroupedBatchSampler])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_task_gets_its_own_batch_size_in_turn(sampler, drop_last):
    dataset, samplers = _tasks([200, 70], sampler, batch_size=8, drop_last=drop_last)
    batches = list(TaskSizedRoundRobinBatchSampler(dataset, samplers, batch_sizes=[32, 10]))
    assert len(batches) == len(TaskSizedRoundRobinBatchSampler(dataset, samplers, batch_sizes=[32, 10]))
    words, sentences = batches[0::2], batches[1::2]
    assert len(words) == len(sentences) == (6 if drop_last else 7)  # 200 rows: 7 batches of 32 (6 full); 70: 7 of 10
    assert all(len(batch) == 32 for batch in words[:6]) and all(len(batch) == 10 for batch in sentences)
    assert all(0 <= index < 200 for batch in words for index in batch)
    assert all(200 <= index < 270 for batch in sentences for index in batch)
    drawn = [index for batch in words + sentences for index in batch]
    assert len(drawn) == len(set(drawn))  # no row twice in an epoch


def test_equal_sizes_give_the_stock_round_robin():
    generator = torch.Generator()  # shared by the row samplers and the round robin, which seeds it
    dataset, samplers = _tasks([50, 40], generator=generator)
    ours = list(TaskSizedRoundRobinBatchSampler(dataset, samplers, generator, seed=3, batch_sizes=[8, 8]))
    stock = list(RoundRobinBatchSampler(dataset, samplers, generator, seed=3))
    assert ours == stock


def test_a_size_per_task_is_required():
    dataset, samplers = _tasks([20, 20])
    with pytest.raises(ValueError, match="one batch size per task"):
        TaskSizedRoundRobinBatchSampler(dataset, samplers, batch_sizes=[8])
    with pytest.raises(ValueError, match="positive integers"):
        TaskSizedRoundRobinBatchSampler(dataset, samplers, batch_sizes=[8, 0])
