"""Render large batches in worker processes (much of a Pango layout call holds the GIL, so threads scale poorly).

Workers write their strips straight into a memory-mapped buffer shared with the caller (in /dev/shm where
there is one), so only the strip lengths travel through the pool's pipes. The workers are spawned, so
like any spawn-based pool (sentence-transformers' multi-process pool too) a script that uses one needs
the ``if __name__ == "__main__":`` guard (without it the workers die; ``PixelEncoder`` then warns and
renders in-process).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import weakref
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from pixel_st.renderer import WHITE, TextRenderer

MIN_CHUNK = 16  # texts per worker below which a process round trip costs more than it saves

_worker_renderer: TextRenderer | None = None
_worker_buffer: np.memmap | None = None  # kept mapped between chunks: a fresh map faults in every page again


def _start_worker(renderer: TextRenderer) -> None:
    global _worker_renderer
    _worker_renderer = renderer  # unpickling registered its fonts in this process


def _map(path: str, size: int, mapped: np.memmap | None, mode: str) -> np.memmap:
    """``mapped`` if it already spans ``size`` bytes of the buffer file, else a fresh map of the whole file."""
    if mapped is not None and mapped.size >= size:
        return mapped
    return np.memmap(path, dtype=np.uint8, mode=mode, shape=(os.path.getsize(path),))


def _render_chunk(path: str, shape: tuple, start: int, texts: list[str], max_patches: int) -> tuple[np.ndarray, int]:
    """Render ``texts`` into rows ``start:start + len(texts)`` of the shared buffer; return their lengths and
    the width written (the caller whitens each row from there to the batch's width)."""
    global _worker_buffer
    pixels, lengths = _worker_renderer.render_batch(texts, max_patches)
    _worker_buffer = _map(path, int(np.prod(shape)), _worker_buffer, "r+")
    rows = _worker_buffer[: int(np.prod(shape))].reshape(shape)
    rows[start : start + len(texts), :, : pixels.shape[2]] = pixels
    return lengths, pixels.shape[2]


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


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
        self._max_seq_length, self._patch_size = renderer.max_seq_length, renderer.patch_size
        self._lock = threading.Lock()  # one shared buffer: one batch at a time
        handle, self._buffer = tempfile.mkstemp(prefix="pixel_st-render-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        os.close(handle)
        self._mapped: np.memmap | None = None
        self._executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(renderer,)
        )
        self._finalizers = [
            weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True),
            weakref.finalize(self, _remove, self._buffer),
        ]

    def render_batch(self, texts: list[str], max_patches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if max_patches is not None and max_patches < 2:
            raise ValueError(f"max_patches must be >= 2, got {max_patches}")
        limit = self._max_seq_length if max_patches is None else min(max_patches, self._max_seq_length)
        shape = (len(texts), self._patch_size, limit * self._patch_size)
        parts = min(self.workers, max(1, len(texts) // MIN_CHUNK))
        bounds = np.linspace(0, len(texts), parts + 1).astype(int)
        with self._lock:
            size = max(1, int(np.prod(shape)))
            if os.path.getsize(self._buffer) < size:
                os.truncate(self._buffer, size)
            futures = [
                self._executor.submit(_render_chunk, self._buffer, shape, start, texts[start:end], limit)
                for start, end in zip(bounds[:-1], bounds[1:])
            ]
            chunks = [future.result() for future in futures]
            lengths = np.concatenate([chunk_lengths for chunk_lengths, _ in chunks]) if texts else np.empty(0, np.int64)
            width = int(lengths.max(initial=1)) * self._patch_size
            self._mapped = _map(self._buffer, size, self._mapped, "r")
            pixels = np.array(self._mapped[: int(np.prod(shape))].reshape(shape)[:, :, :width])
            for start, end, (_, written) in zip(bounds[:-1], bounds[1:], chunks):
                pixels[start:end, :, written:] = WHITE  # what an earlier, wider batch left there
        return pixels, lengths

    def close(self) -> None:
        self._mapped = None
        for finalizer in self._finalizers:
            finalizer()
