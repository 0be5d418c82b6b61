"""Training throughput with random vs length-grouped batches, measured side by side in one run.

    python benchmarks/length_grouping.py [--data FILE] [--rows 8192] [--preset mini] [--batch-size 64] [--steps 30]

For each batch sampler (sentence-transformers' default, ``pixel_st.length_sampler.LengthGroupedBatchSampler``):
- padding: positions the model computes (batch size x longest strip, summed over one epoch of batches) per
  position that holds text, with the strips' real patch counts;
- speed: training pairs/s of the stock ``SentenceTransformerTrainer`` (MultipleNegativesRankingLoss on
  (sentence, sentence with typos) pairs, the visual stage's data) over ``--steps`` steps, same initial model.
  The two samplers take turns, ``--rounds`` times, so that warm-up and machine load fall on both.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from pixel_st import new_model
from pixel_st.data import sentences
from pixel_st.length_sampler import LengthGroupedBatchSampler, padding_factor
from pixel_st.pairs import augmented_pairs

SAMPLERS = {"random (default)": BatchSamplers.BATCH_SAMPLER, "length-grouped": LengthGroupedBatchSampler}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/corpus/enwiki_sentences.txt.gz")
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--preset", default=None, help="default: base on GPU, mini on CPU")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on GPU, 64 on CPU")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    preset = args.preset or ("base" if cuda else "mini")
    batch_size = args.batch_size or (256 if cuda else 64)
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; preset {preset}; batch {batch_size} pairs; {args.rows} rows of {args.data}")

    dataset = sentences(args.data, args.rows)
    pairs = augmented_pairs(dataset, "typos", 0.1)
    model = new_model(preset, seed=0)
    patches = model[0].renderer.render_batch(dataset["text"], model.max_seq_length)[1]
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    for label, sampler in [item for _ in range(args.rounds) for item in SAMPLERS.items()]:
        model.load_state_dict(initial)
        with tempfile.TemporaryDirectory() as folder:
            trainer = SentenceTransformerTrainer(
                model=model,
                args=SentenceTransformerTrainingArguments(
                    output_dir=folder, per_device_train_batch_size=batch_size, max_steps=args.steps, learning_rate=1e-5,
                    batch_sampler=sampler, bf16=cuda and torch.cuda.is_bf16_supported(), save_strategy="no",
                    report_to="none", use_cpu=not cuda, disable_tqdm=True, seed=0,
                ),
                train_dataset=pairs,
                loss=MultipleNegativesRankingLoss(model),
            )
            batches = list(trainer.get_train_dataloader().batch_sampler)
            metrics = trainer.train().metrics
        print(f"{label:18s} computed/real positions {padding_factor(batches, patches):.2f}   "
              f"{metrics['train_samples_per_second']:8.1f} pairs/s")


if __name__ == "__main__":
    main()
