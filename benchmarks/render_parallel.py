"""Rendering in parallel: one process, N threads, the N-process RenderPool, and this machine's own ceiling.

    python benchmarks/render_parallel.py [--workers 2] [--batch-size 256] [--repeat 7]

Renders the STS-B dev sentences in batches (as ``encode`` does) and prints sentences/s, best of
``--repeat``. The ceiling is a pure-Python CPU-bound loop run in N processes versus one: no rendering
scheme can scale better than the machine does.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context

import numpy as np

from pixel_st.render_pool import RenderPool
from pixel_st.renderer import TextRenderer
from pixel_st.sts import read_sts
from speed import rate  # best of N runs, items per second (benchmarks/speed.py)


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_dev.tsv.gz")
    args = parser.parse_args()
    first, second, _ = read_sts(args.data)
    texts, n, size = first + second, args.workers, args.batch_size
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    renderer = TextRenderer()
    renderer.render_batch(texts[:10])

    serial = rate(lambda: [renderer.render_batch(batch) for batch in batches], len(texts), args.repeat)
    with ThreadPoolExecutor(n) as threads:
        def threaded(batch):
            parts = np.array_split(np.arange(len(batch)), n)
            return list(threads.map(lambda part: renderer.render_batch([batch[i] for i in part]), parts))

        threaded_rate = rate(lambda: [threaded(batch) for batch in batches], len(texts), args.repeat)
    pool = RenderPool(renderer, n)
    pool.render_batch(texts[:64])  # workers started
    pooled = rate(lambda: [pool.render_batch(batch) for batch in batches], len(texts), args.repeat)
    pool.close()

    start = time.perf_counter()
    for _ in range(n):
        spin(3_000_000)
    one = time.perf_counter() - start
    with get_context("spawn").Pool(n) as processes:
        processes.map(spin, [10] * n)
        start = time.perf_counter()
        processes.map(spin, [3_000_000] * n)
        many = time.perf_counter() - start

    print(f"{len(texts)} STS-B dev sentences in batches of {size}; {n} workers")
    print(f"one process      {serial:8.0f}/s")
    print(f"{n} threads        {threaded_rate:8.0f}/s   {threaded_rate / serial:.2f}x")
    print(f"RenderPool({n})    {pooled:8.0f}/s   {pooled / serial:.2f}x")
    print(f"machine ceiling: a CPU-bound Python loop in {n} processes runs {one / many:.2f}x faster than in one")


if __name__ == "__main__":
    main()
