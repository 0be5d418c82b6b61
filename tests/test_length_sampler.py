"""Length-grouped batches: every row once per epoch, far less padding than random batches, reproducible."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasets import Dataset

from pixel_st.length_sampler import LengthGroupedBatchSampler, padding_factor, row_lengths
from pixel_st.pairs import augmented_pairs


def texts(count: int) -> list[str]:
    rng = random.Random(0)
    return [f"{index} " + "word " * rng.randint(1, 40) for index in range(count)]


def test_every_row_once_and_much_less_padding_than_random_batches():
    dataset = Dataset.from_dict({"anchor": texts(1000), "positive": texts(1000)[::-1]})
    sampler = LengthGroupedBatchSampler(dataset, batch_size=16, drop_last=False)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    lengths = np.maximum([len(t) for t in dataset["anchor"]], [len(t) for t in dataset["positive"]])
    order = np.random.default_rng(0).permutation(1000)
    random_batches = [order[i : i + 16] for i in range(0, 1000, 16)]
    assert padding_factor(batches, lengths) < 1.1 < 1.3 < padding_factor(random_batches, lengths)


def test_rows_sharing_a_text_go_to_different_batches():
    premises = texts(300)
    anchors = [premises[0]] * 5 + [premises[1]] * 3 + premises[2:]  # a premise with five hypotheses, one with three
    dataset = Dataset.from_dict({"anchor": anchors, "positive": [f"hypothesis {i}" for i in range(len(anchors))]})
    sampler = LengthGroupedBatchSampler(dataset, batch_size=16, drop_last=False)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(len(anchors)))
        assert len(batches) == len(sampler)
        assert all(len({anchors[i] for i in batch}) == len(batch) for batch in batches)
    assert padding_factor(batches, row_lengths(dataset)) < 1.2  # the copies wait a batch, not more


def test_missing_texts_are_no_copies_of_each_other():
    dataset = Dataset.from_dict({"anchor": texts(64), "negative": [None] * 64})
    batches = list(LengthGroupedBatchSampler(dataset, batch_size=16, drop_last=False))
    assert [len(batch) for batch in batches] == [16] * 4


def test_epochs_reshuffle_and_a_seed_reproduces():
    dataset = Dataset.from_dict({"text": texts(500)})
    first = LengthGroupedBatchSampler(dataset, batch_size=8, drop_last=True, seed=3)
    again = LengthGroupedBatchSampler(dataset, batch_size=8, drop_last=True, seed=3)
    assert list(first) == list(again)
    assert len(list(first)) == len(first) == 62 and all(len(batch) == 8 for batch in first)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0


def test_lengths_skip_labels_and_do_not_run_transforms():
    dataset = Dataset.from_dict({"text": ["a" * 5, "b" * 50], "label": ["x" * 500, "y"]})
    assert row_lengths(dataset, skip=["label"]).tolist() == [5, 50]
    augmented = augmented_pairs(dataset.select_columns(["text"]), "typos", 0.5)
    assert row_lengths(augmented).tolist() == [5, 50]


def test_a_dataset_without_text_is_refused():
    with pytest.raises(ValueError, match="text column"):
        LengthGroupedBatchSampler(Dataset.from_dict({"label": [0.5, 0.1]}), batch_size=2, drop_last=False)


def test_the_stock_trainer_takes_the_class_as_batch_sampler(tmp_path):
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    import pixel_st

    dataset = augmented_pairs(Dataset.from_dict({"text": texts(64)}), "typos", 0.2)
    model = pixel_st.new_model("tiny", seed=0)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=3, batch_sampler=pixel_st.LengthGroupedBatchSampler,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model))
    sampler = trainer.get_train_dataloader().batch_sampler
    lengths = row_lengths(dataset)
    assert padding_factor(list(sampler), lengths) < 1.1
    assert trainer.train().global_step == 3
