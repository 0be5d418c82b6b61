"""Rendering in parallel: one process, N threads, the N-process RenderPool, and this machine's own ceiling.

    python benchmarks/render_parallel.py [--workers 2] [--batch-size 256] [--repeat 7] [--word-aligned]
                                         [--against REV ...] [--rounds 5]

Renders the STS-B dev sentences in batches (as ``encode`` does) and prints sentences/s, best of
``--repeat``. The ceiling is a pure-Python CPU-bound loop run in N processes versus one: no rendering
scheme can scale better than the machine does. The round trip is what one pool call adds to rendering
its texts in-process (one worker, calls of MIN_CHUNK texts, the smallest chunk the pool sends): with
many workers and encode's batches each worker gets a small chunk, and this cost is paid per chunk.
``--against REV ...`` prints only the pool figures, for pixel_st/render_pool.py now and at git revisions,
measured in turns and the best of each kept (this machine's speed drifts; only figures taken side by side
compare), with the round trip over in-process rendering in brackets.
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


class PoolFigures:
    """A ``module.RenderPool(renderer, n)`` and a one-worker pool, started and their word images cached."""

    def __init__(self, module, renderer: TextRenderer, n: int, texts: list[str]) -> None:
        self.pool, self.one_worker = module.RenderPool(renderer, n), module.RenderPool(renderer, 1)
        for pool in (self.pool, self.one_worker):
            pool.render_batch(texts)

    def measure(self, batches: list[list[str]], repeat: int) -> tuple[float, float]:
        """Sentences/s of the pool over ``batches``; seconds of one MIN_CHUNK-text call through one worker."""
        count, calls = sum(map(len, batches)), small_calls([text for batch in batches for text in batch])
        pooled = rate(lambda: [self.pool.render_batch(batch) for batch in batches], count, repeat)
        return pooled, 1 / rate(lambda: [self.one_worker.render_batch(chunk) for chunk in calls], len(calls), repeat)

    def close(self) -> None:
        self.pool.close()
        self.one_worker.close()


def against(revisions: list[str], renderer: TextRenderer, n: int, batches: list[list[str]], repeat: int, rounds: int) -> None:
    """The pool figures of pixel_st/render_pool.py at each revision and now, and in-process rendering, measured
    in turns ``rounds`` times; the best of each."""
    texts = [text for batch in batches for text in batch]
    calls = small_calls(texts)
    with tempfile.TemporaryDirectory() as folder:
        modules = {revision: module_at(revision, "pixel_st/render_pool.py", folder) for revision in revisions}
        versions = {label: PoolFigures(module, renderer, n, texts) for label, module in {**modules, "now": pixel_st.render_pool}.items()}
        best = {label: (0.0, float("inf")) for label in versions}
        in_process = 0.0
        for _ in range(rounds):
            in_process = max(in_process, rate(lambda: [renderer.render_batch(chunk) for chunk in calls], len(calls), repeat))
            for label, figures in versions.items():
                pooled, round_trip = figures.measure(batches, repeat)
                best[label] = (max(best[label][0], pooled), min(best[label][1], round_trip))
        for figures in versions.values():
            figures.close()
    print(f"in-process           call of {MIN_CHUNK} texts {1e3 / in_process:.2f} ms")
    for label, (pooled, round_trip) in best.items():
        print(f"{label:10s} RenderPool({n}) {pooled:8.0f}/s   one-worker call of {MIN_CHUNK} texts {round_trip * 1e3:.2f} ms"
              f" (+{(round_trip - 1 / in_process) * 1e3:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data", default="../shared/data/sts/stsb_en_dev.tsv.gz")
    parser.add_argument("--word-aligned", action="store_true", help="word-aligned strips (the shipped model's), words cached")
    parser.add_argument("--against", nargs="+", default=[], metavar="REV",
                        help="only the pool figures, now and at these git revisions, in turns")
    parser.add_argument("--rounds", type=int, default=5, help="turns with --against; the best of each is printed")
    args = parser.parse_args()
    first, second, _ = read_sts(args.data)
    texts, n, size = first + second, args.workers, args.batch_size
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    renderer = TextRenderer(word_aligned=args.word_aligned)
    renderer.render_batch(texts if args.word_aligned else texts[:10])  # word images cached, as in a long run
    if args.against:
        aligned = "; word-aligned" if args.word_aligned else ""
        print(f"{len(texts)} STS-B dev sentences in batches of {size}; {n} workers{aligned}; "
              f"best of {args.rounds} rounds in turns, each the best of {args.repeat}")
        against(args.against, renderer, n, batches, args.repeat, args.rounds)
        return

    serial = rate(lambda: [renderer.render_batch(batch) for batch in batches], len(texts), args.repeat)
    calls = small_calls(texts)
    in_process = rate(lambda: [renderer.render_batch(chunk) for chunk in calls], len(calls), args.repeat)
    with ThreadPoolExecutor(n) as threads:
        def threaded(batch):
            parts = np.array_split(np.arange(len(batch)), n)
            return list(threads.map(lambda part: renderer.render_batch([batch[i] for i in part]), parts))

        threaded_rate = rate(lambda: [threaded(batch) for batch in batches], len(texts), args.repeat)
    figures = PoolFigures(pixel_st.render_pool, renderer, n, texts)
    pooled, round_trip = figures.measure(batches, args.repeat)
    figures.close()

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
