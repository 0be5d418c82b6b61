"""Stock sentence-transformers training and evaluation run on a pixel model."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from pixel_st import DEFAULT_MODEL, new_model


def _sts_pairs(path, limit):
    with gzip.open(path, "rt", encoding="utf-8") as file:
        rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], [float(r["score"]) / 5 for r in rows]


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16-autocast"])
def test_trainer_with_mnrl_lowers_the_loss(data_dir, tmp_path, bf16):
    """bf16: the trainer's mixed precision, as the recipe runner switches on for GPUs (CPU autocast here)."""
    first, second, scores = _sts_pairs(data_dir / "sts" / "stsb_en_train.tsv.gz", 400)
    pairs = [(a, b) for a, b, s in zip(first, second, scores) if s >= 0.7][:128]
    dataset = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]})
    model = new_model("tiny", seed=0)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=6,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=32,
        learning_rate=1e-3,
        warmup_steps=0,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        bf16=bf16,
        seed=0,
    )
    dtypes = set()
    model[0].vit.layers[0].mlp.fc1.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, eval_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
    )
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < before * 0.8, (before, after)
    assert dtypes == {torch.bfloat16 if bf16 else torch.float32}  # the layers really ran under autocast


def test_embedding_similarity_evaluator_runs(data_dir, tiny_model):
    first, second, scores = _sts_pairs(data_dir / "sts" / "stsb_en_dev.tsv.gz", 50)
    evaluator = EmbeddingSimilarityEvaluator(first, second, scores, name="stsb-dev")
    results = evaluator(tiny_model)
    assert -1 <= results["stsb-dev_spearman_cosine"] <= 1


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing_enable` is deprecated:FutureWarning")  # transformers' rename
def test_gradient_checkpointing_keeps_fewer_activations_and_the_same_gradients():
    """The trainer's ``gradient_checkpointing=True`` calls this; our forward must run the layers through
    transformers' checkpointing wrapper, or the switch would silently save nothing."""
    texts = ["A man is playing a guitar.", "A woman slices an onion on a wooden board."] * 4

    def run(checkpointing):
        model = new_model("tiny", seed=0).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            loss = model(model.preprocess(texts))["sentence_embedding"][:, 0].sum()
        loss.backward()
        return sum(saved), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    plain_saved, plain_grads = run(False)
    checkpointed_saved, checkpointed_grads = run(True)
    assert checkpointed_saved < plain_saved / 2
    torch.testing.assert_close(checkpointed_grads, plain_grads, atol=1e-6, rtol=1e-4)


def test_finetune_example_trains_the_shipped_model_and_saves_it(data_dir, tmp_path):
    script = Path(__file__).parent.parent / "examples" / "finetune.py"
    command = [sys.executable, str(script), str(tmp_path / "out"), "--data", str(data_dir), "--rows", "200",
               "--steps", "3", "--batch-size", "8", "--learning-rate", "1e-3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "after 3 steps; saved to" in result.stdout
    texts = ["A man is playing a guitar.", "The stock market fell."]
    tuned = SentenceTransformer(str(tmp_path / "out"), trust_remote_code=True).encode(texts)
    shipped = SentenceTransformer(DEFAULT_MODEL, trust_remote_code=True).encode(texts)
    assert tuned.shape == shipped.shape and not torch.allclose(torch.from_numpy(tuned), torch.from_numpy(shipped))
