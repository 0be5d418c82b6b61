"""Render large batches in worker processes (much of a Pango layout call holds the GIL, so threads scale poorly)."""

from __future__ import annotations

import multiprocessing
import weakref
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

import numpy as np

from pixel_st.renderer import WHITE, TextRenderer

MIN_CHUNK = 16  # texts per worker below which a process round trip costs more than it saves

_worker_renderer: TextRenderer | None = None


def _start_worker(renderer: TextRenderer) -> None:
    global _worker_renderer
    _worker_renderer = renderer  # unpickling registered its fonts in this process


def _render_chunk(texts: list[str], max_patches: int | None) -> tuple[np.ndarray, np.ndarray]:
    return _worker_renderer.render_batch(texts, max_patches)


class RenderPool:
    """``workers`` spawned processes, each holding a copy of ``renderer``; ``render_batch`` has the
    renderer's signature and result (strips cropped to the longest one), computed in contiguous chunks.

    ``config`` is the renderer configuration the workers were started with; a pool does not follow later
    changes to the renderer (the encoder starts a new pool when they differ).
    """

    def __init__(self, renderer: TextRenderer, workers: int) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        self.config = renderer.config_dict()
        self.patch_size = renderer.patch_size
        self._executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(renderer,)
        )
        self._finalizer = weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)

    def render_batch(self, texts: list[str], max_patches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        parts = min(self.workers, max(1, len(texts) // MIN_CHUNK))
        bounds = np.linspace(0, len(texts), parts + 1).astype(int)
        chunks = [texts[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
        results = list(self._executor.map(_render_chunk, chunks, repeat(max_patches)))
        width = max(pixels.shape[2] for pixels, _ in results)
        out = np.full((len(texts), self.patch_size, width), WHITE, dtype=np.uint8)
        for start, (pixels, _) in zip(bounds, results):
            out[start : start + len(pixels), :, : pixels.shape[2]] = pixels
        return out, np.concatenate([lengths for _, lengths in results])

    def close(self) -> None:
        self._finalizer()
