"""Training-step cost and data-loading stalls, measured side by side (CPU here, GPU when there is one).

    python benchmarks/train_step.py [--preset small] [--batch-size 64] [--steps 20] [--workers 2] [--word-aligned]

Prints, with the device name:
- forward: the (anchor, positive) columns of one batch of STS-B train pairs through the model, no gradient;
- step: a MultipleNegativesRankingLoss step on the same batch (forward with gradient, backward, AdamW);
  the speed issue's target is step <= 3.5x forward;
- fed by a DataLoader whose workers render the text (as the trainer's ``dataloader_num_workers`` does):
  the share of wall time the loop waited for a batch; the target is busy >= 85 %.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from torch.utils.data import DataLoader

from pixel_st import new_model
from pixel_st.sts import read_sts


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def to_device(features: list[dict], device: str) -> list[dict]:
    return [{key: value.to(device, non_blocking=True) for key, value in column.items()} for column in features]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default=None, help="default: base on GPU, small on CPU")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 on GPU, 64 on CPU")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes that render")
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_train.tsv.gz")
    parser.add_argument("--word-aligned", action="store_true", help="word-aligned strips, as recipes/scratch.yaml trains on")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    preset = args.preset or ("base" if device == "cuda" else "small")
    batch_size = args.batch_size or (256 if device == "cuda" else 64)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    aligned = "; word-aligned" if args.word_aligned else ""
    print(f"device: {name}; preset {preset}; batch {batch_size} pairs; {args.steps} steps; {args.workers} render workers{aligned}")

    first, second, _ = read_sts(args.data)
    pairs = list(zip(first, second))
    random.Random(0).shuffle(pairs)  # the file is grouped by genre (short captions first)
    model = new_model(preset, seed=0, device=device, word_aligned=args.word_aligned)
    loss = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def collate(rows: list[tuple[str, str]]) -> list[dict]:
        return [model.preprocess([a for a, _ in rows]), model.preprocess([b for _, b in rows])]

    batch = to_device(collate(pairs[:batch_size]), device)

    def forward() -> None:
        with torch.inference_mode(), autocast:
            for column in batch:
                model(dict(column))

    def step(features: list[dict]) -> None:
        with autocast:
            value = loss([dict(column) for column in features], None)
        value.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(function, repeat: int) -> float:
        function()  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        sync()
        return (time.perf_counter() - start) / repeat

    forward_s = timed(forward, args.steps)
    step_s = timed(lambda: step(batch), args.steps)
    patches = sum(float(column["attention_mask"].sum()) for column in batch) / (2 * batch_size)
    print(f"{patches:.1f} patches per sentence")
    print(f"forward {forward_s * 1e3:8.1f} ms   step {step_s * 1e3:8.1f} ms   step/forward {step_s / forward_s:.2f}")

    loader = DataLoader(pairs, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=args.workers,
                        persistent_workers=args.workers > 0, prefetch_factor=4 if args.workers else None, drop_last=True)
    iterator = iter(loader)
    step(to_device(next(iterator), device))  # workers started, kernels warm
    sync()
    waited, start = 0.0, time.perf_counter()
    for _ in range(args.steps):
        before = time.perf_counter()
        features = next(iterator)
        waited += time.perf_counter() - before
        step(to_device(features, device))
        sync()
    total = time.perf_counter() - start
    print(f"fed by {args.workers} DataLoader workers: {args.steps * batch_size / total:8.0f} pairs/s   "
          f"waited for data {100 * waited / total:.1f} % of the time   busy {100 * (1 - waited / total):.1f} %")
    if device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
