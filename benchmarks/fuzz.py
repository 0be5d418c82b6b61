"""Fuzz the full pipeline: N random strings (any code point, surrogates and controls included, lengths up to
--max-length) are encoded by a tiny model; reports crashes, non-finite vectors and non-deterministic strips.

    python benchmarks/fuzz.py [--n 10000] [--seed 0] [--word-aligned]

``--word-aligned`` renders as the shipped model does: strips pasted from cached word images.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from pixel_st import new_model

POOLS = {
    "any code point": lambda rng: chr(rng.randrange(0x110000)),
    "controls/format": lambda rng: rng.choice("\x00\x01\x07\t\n\r\x0b\x0c\x1b\x7f\x85\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2028\u2029\ufeff"),
    "combining": lambda rng: chr(rng.randrange(0x300, 0x370)),
    "surrogate": lambda rng: chr(rng.randrange(0xD800, 0xE000)),
    "scripts": lambda rng: rng.choice("aéßжλمرحשל你好こんにちは한국ไทยहिंदी😀👩‍👩"),
}


def random_string(rng: random.Random, max_length: int) -> str:
    length = rng.choice([0, 1, 5, 20, 80, max_length]) if rng.random() < 0.3 else rng.randrange(max_length)
    pools = rng.sample(list(POOLS.values()), rng.randint(1, len(POOLS)))
    return "".join(rng.choice(pools)(rng) for _ in range(length))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=2000)
    parser.add_argument("--word-aligned", action="store_true", help="word-aligned strips (the shipped model's)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = [random_string(rng, args.max_length) for _ in range(args.n)]
    texts[0] = "x" * 100_000
    model = new_model("tiny", seed=0, word_aligned=args.word_aligned)
    renderer = model[0].renderer
    start = time.perf_counter()
    failures, non_finite, unstable = [], 0, 0
    for begin in range(0, len(texts), 64):
        batch = texts[begin : begin + 64]
        try:
            embeddings = model.encode(batch, batch_size=64)
        except Exception as error:  # the point is to count them
            failures.append(f"{type(error).__name__}: {error}")
            continue
        non_finite += int((~np.isfinite(embeddings)).any(axis=1).sum())
        unstable += sum(not np.array_equal(renderer.render(t), renderer.render(t)) for t in batch[:4])
    seconds = time.perf_counter() - start
    aligned = ", word-aligned" if args.word_aligned else ""
    print(f"strings: {len(texts)} (seed {args.seed}, lengths 0..{args.max_length} plus one of 100,000 chars{aligned})")
    print(f"exceptions: {len(failures)}  non-finite vectors: {non_finite}  non-deterministic strips: {unstable}")
    print(f"time: {seconds:.1f} s")
    for failure in failures[:5]:
        print("  ", failure)


if __name__ == "__main__":
    main()
