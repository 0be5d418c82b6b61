"""Fine-tune a pixel_st model on your own pairs with the stock sentence-transformers trainer.

NLI (anchor, entailed, contradicted) triplets, MultipleNegativesRankingLoss, length-grouped batches;
STS-B dev scored before and after, and the model saved to OUT.

    python examples/finetune.py OUT [--model default] [--data ../shared/data] [--rows 10000] [--steps 300]

Any dataset of text columns works the same way: (anchor, positive) pairs, or triplets with a negative.
"""

from __future__ import annotations

import argparse

from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from pixel_st import LengthGroupedBatchSampler
from pixel_st.data import nli_triplets
from pixel_st.report import load_any
from pixel_st.sts import read_sts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--model", default="default", help="a model folder, hub id, or 'default' (the shipped model)")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--rows", type=int, default=10_000, help="NLI triplets to train on")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    args = parser.parse_args()

    model = load_any(args.model)
    train = nli_triplets(f"{args.data}/nli/nli_train.tsv.gz", limit=args.rows)
    first, second, scores = read_sts(f"{args.data}/sts/stsb_en_dev.tsv.gz")
    dev = EmbeddingSimilarityEvaluator(first, second, scores, name="stsb-dev")
    before = dev(model)["stsb-dev_spearman_cosine"]

    training_args = SentenceTransformerTrainingArguments(
        output_dir=f"{args.out}/checkpoints",
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=0.1,
        batch_sampler=LengthGroupedBatchSampler,  # rows of similar length: less padding per batch
        save_strategy="no",
        report_to="none",
    )
    loss = MultipleNegativesRankingLoss(model)
    SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train, loss=loss).train()

    after = dev(model)["stsb-dev_spearman_cosine"]
    model.save(args.out)
    print(f"STS-B dev Spearman: {100 * before:.1f} before, {100 * after:.1f} after {args.steps} steps; saved to {args.out}")


if __name__ == "__main__":
    main()
