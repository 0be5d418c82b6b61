"""Rendering in parallel: one process, N threads, the N-process RenderPool, and this machine's own ceiling.

    python benchmarks/render_parallel.py [--workers 2] [--batch-size 256] [--repeat 7] [--word-aligned]
                                         [--against REV]

Renders the STS-B dev sentences in batches (as ``encode`` does) and prints sentences/s, best of
``--repeat``. The ceiling is a pure-Python CPU-bound loop run in N processes versus one: no rendering
scheme can scale better than the machine does. The round trip is what one pool call adds to rendering
its texts in-process (one worker, calls of MIN_CHUNK texts, the smallest chunk the pool sends): with
many workers and encode's batches each worker gets a small chunk, and this cost is paid per chunk.
``--against REV`` prints only the pool figures, for pixel_st/render_pool.py now and at a git revision, in
turns (this machine's speed drifts between runs; only figures taken side by side compare).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context

import numpy as np

import pixel_st.render_pool
from pixel_st.render_pool import MIN_CHUNK
from pixel_st.renderer import TextRenderer
from pixel_st.sts import read_sts
from at_revision import module_at  # benchmarks/at_revision.py
from speed import rate  # best of N runs, items per second (benchmarks/speed.py)


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def small_calls(texts: list[str]) -> list[list[str]]:
    return [texts[i : i + MIN_CHUNK] for i in range(0, len(texts) - MIN_CHUNK + 1, MIN_CHUNK)]


def pool_figures(module, renderer: TextRenderer, n: int, batches: list[list[str]], repeat: int) -> tuple[float, float]:
    """Sentences/s of ``module.RenderPool(renderer, n)`` over ``batches``, and the seconds one call of
    MIN_CHUNK texts takes through a one-worker pool (workers started and their word images cached first)."""
    texts = [text for batch in batches for text in batch]
    pool, one_worker = module.RenderPool(renderer, n), module.RenderPool(renderer, 1)
    try:
        for started in (pool, one_worker):
            started.render_batch(texts)
        pooled = rate(lambda: [pool.render_batch(batch) for batch in batches], len(texts), repeat)
        calls = small_calls(texts)
        return pooled, 1 / rate(lambda: [one_worker.render_batch(chunk) for chunk in calls], len(calls), repeat)
    finally:
        pool.close()
        one_worker.close()


def against(revision: str, renderer: TextRenderer, n: int, batches: list[list[str]], repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        versions = {revision: module_at(revision, "pixel_st/render_pool.py", folder), "now": pixel_st.render_pool}
        for round_ in range(3):
            for label, module in versions.items():
                pooled, round_trip = pool_figures(module, renderer, n, batches, repeat)
                print(f"round {round_ + 1}  {label:10s} RenderPool({n}) {pooled:8.0f}/s   "
                      f"one-worker call of {MIN_CHUNK} texts {round_trip * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_dev.tsv.gz")
    parser.add_argument("--word-aligned", action="store_true", help="word-aligned strips (the shipped model's), words cached")
    parser.add_argument("--against", metavar="REV", help="only the pool figures, now and at this git revision, in turns")
    args = parser.parse_args()
    first, second, _ = read_sts(args.data)
    texts, n, size = first + second, args.workers, args.batch_size
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    renderer = TextRenderer(word_aligned=args.word_aligned)
    renderer.render_batch(texts if args.word_aligned else texts[:10])  # word images cached, as in a long run
    if args.against:
        aligned = "; word-aligned" if args.word_aligned else ""
        print(f"{len(texts)} STS-B dev sentences in batches of {size}; {n} workers{aligned}; best of {args.repeat}")
        against(args.against, renderer, n, batches, args.repeat)
        return

    serial = rate(lambda: [renderer.render_batch(batch) for batch in batches], len(texts), args.repeat)
    calls = small_calls(texts)
    in_process = rate(lambda: [renderer.render_batch(chunk) for chunk in calls], len(calls), args.repeat)
    with ThreadPoolExecutor(n) as threads:
        def threaded(batch):
            parts = np.array_split(np.arange(len(batch)), n)
            return list(threads.map(lambda part: renderer.render_batch([batch[i] for i in part]), parts))

        threaded_rate = rate(lambda: [threaded(batch) for batch in batches], len(texts), args.repeat)
    pooled, round_trip = pool_figures(pixel_st.render_pool, renderer, n, batches, args.repeat)

    start = time.perf_counter()
    for _ in range(n):
        spin(3_000_000)
    one = time.perf_counter() - start
    with get_context("spawn").Pool(n) as processes:
        processes.map(spin, [10] * n)
        start = time.perf_counter()
        processes.map(spin, [3_000_000] * n)
        many = time.perf_counter() - start

    aligned = "; word-aligned" if args.word_aligned else ""
    print(f"{len(texts)} STS-B dev sentences in batches of {size}; {n} workers{aligned}")
    print(f"one process      {serial:8.0f}/s")
    print(f"{n} threads        {threaded_rate:8.0f}/s   {threaded_rate / serial:.2f}x")
    print(f"RenderPool({n})    {pooled:8.0f}/s   {pooled / serial:.2f}x")
    print(f"a pool round trip adds {(round_trip - 1 / in_process) * 1e3:.2f} ms to a call of {MIN_CHUNK} texts"
          f" ({1e3 / in_process:.2f} ms in-process)")
    print(f"machine ceiling: a CPU-bound Python loop in {n} processes runs {one / many:.2f}x faster than in one")


if __name__ == "__main__":
    main()
