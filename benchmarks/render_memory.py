"""Resident memory of the process while rendering N sentences (default 100,000): flat means no leaked
cairo surfaces or Pango layouts.

    python benchmarks/render_memory.py [--n 100000]
"""

from __future__ import annotations

import argparse
import resource
import time

from pixel_st.renderer import TextRenderer


def rss_mib() -> float:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    renderer = TextRenderer()
    texts = [f"Sentence {i}: the quick brown fox {i * 7919 % 10007} jumps — مرحبا 你好" for i in range(1000)]
    step = args.n // 10
    start = time.perf_counter()
    print(f"{'renders':>8} {'RSS MiB':>8}")
    for done in range(0, args.n + 1, step):
        if done:
            for i in range(step // 100):
                renderer.render_batch(texts[(i * 100) % 1000 : (i * 100) % 1000 + 100])
        print(f"{done:>8} {rss_mib():>8.1f}")
    print(f"{args.n / (time.perf_counter() - start):.0f} renders/s on one core")


if __name__ == "__main__":
    main()
