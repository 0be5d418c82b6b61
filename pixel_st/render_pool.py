"""Render large batches in worker processes (much of a Pango layout call holds the GIL, so threads scale poorly).

Workers write their strips straight into a memory-mapped buffer shared with the caller (in /dev/shm where it
has room: a container's is often 64 MB, and writing past a full tmpfs kills the writer; else in the temp
directory), so only the texts and the strip lengths travel, each worker through its own pipe. The
workers are spawned, so like any spawn-based pool (sentence-transformers' multi-process pool too) a script
that uses one needs the ``if __name__ == "__main__":`` guard (without it the workers die; ``PixelEncoder``
then warns and renders in-process).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import shutil
import tempfile
import threading
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from pixel_st.renderer import WHITE, TextRenderer

MIN_CHUNK = 16  # texts per worker below which a process round trip costs more than it saves
SHARED_MEMORY = "/dev/shm"


def _buffer_file(size: int) -> str:
    """A new empty file for a buffer of ``size`` bytes: in shared memory if it has room for twice that (the
    rest for others: DataLoader workers share tensors there too), else in the temp directory."""
    roomy = os.path.isdir(SHARED_MEMORY) and shutil.disk_usage(SHARED_MEMORY).free >= 2 * size
    handle, path = tempfile.mkstemp(prefix="pixel_st-render-", dir=SHARED_MEMORY if roomy else None)
    os.close(handle)
    return path


def _map(path: str, size: int, mapped: np.memmap | None, mode: str) -> np.memmap:
    """``mapped`` if it already spans ``size`` bytes of the buffer file at ``path``, else a fresh map of the
    whole file (kept between batches: a fresh map faults in every page again)."""
    if mapped is not None and mapped.filename == os.path.abspath(path) and mapped.size >= size:
        return mapped
    return np.memmap(path, dtype=np.uint8, mode=mode, shape=(os.path.getsize(path),))


def _serve(connection, renderer: TextRenderer) -> None:
    """A worker: for each ``(path, shape, start, texts, max_patches)`` received, render ``texts`` into rows
    ``start:start + len(texts)`` of the buffer file at ``path`` and answer with their lengths and the width
    written (the caller whitens each row from there to the batch's width), or with the exception raised."""
    buffer = None
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):  # the caller is gone
            return
        if request is None:
            return
        path, shape, start, texts, max_patches = request
        try:
            pixels, lengths = renderer.render_batch(texts, max_patches)
            count = int(np.prod(shape))
            buffer = _map(path, count, buffer, "r+")
            buffer[:count].reshape(shape)[start : start + len(texts), :, : pixels.shape[2]] = pixels
            connection.send((lengths, pixels.shape[2]))
        except Exception as error:  # raised again in the caller, as a pool does
            connection.send(error)


def _stop(connections: list, processes: list, buffer: list[str]) -> None:
    for connection in connections:
        try:
            connection.send(None)
            connection.close()
        except OSError:  # a dead worker's pipe
            pass
    for process in processes:
        process.join(timeout=1)
        if process.is_alive():
            process.terminate()
    _remove(buffer[0])


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


class RenderPool:
    """``workers`` spawned processes, each holding a copy of ``renderer``; ``render_batch`` has the
    renderer's signature and result (strips cropped to the longest one), computed in contiguous chunks.
    A worker that dies makes ``render_batch`` raise ``BrokenProcessPool``. Only the process that made the pool
    (``pid``) may use it: a forked child holds a copy of the pipes to its parent's workers.

    ``config`` is the renderer configuration the workers were started with; a pool does not follow later
    changes to the renderer (the encoder starts a new pool when they differ).
    """

    def __init__(self, renderer: TextRenderer, workers: int) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        self.config = renderer.config_dict()
        self.pid = os.getpid()  # the process that owns the workers (a forked copy must neither use nor stop them)
        self._max_seq_length, self._patch_size = renderer.max_seq_length, renderer.patch_size
        self._lock = threading.Lock()  # one shared buffer: one batch at a time
        self._buffer = [_buffer_file(0)]  # one path, replaced where a larger batch no longer fits its file system
        self._mapped: np.memmap | None = None
        context = multiprocessing.get_context("spawn")
        self._connections, self._processes = [], []
        # Before any start, so that a start that fails (a spawned child of an unguarded script) stops the rest.
        # multiprocessing's finalizer rather than weakref's: it runs only in this process (never in a forked
        # copy, whose workers and buffer are this process's), and also when this process is itself a forked
        # multiprocessing child, which leaves through os._exit, past atexit, with the pool still alive.
        self._finalizer = multiprocessing.util.Finalize(
            self, _stop, args=(self._connections, self._processes, self._buffer), exitpriority=0
        )
        try:
            for _ in range(workers):
                ours, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, renderer), daemon=True)
                self._connections.append(ours)
                process.start()
                theirs.close()  # the worker holds the only other end: its death reads as end-of-file here
                self._processes.append(process)
        except BaseException:
            self._finalizer()
            raise

    def render_batch(self, texts: list[str], max_patches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if max_patches is not None and max_patches < 2:
            raise ValueError(f"max_patches must be >= 2, got {max_patches}")
        limit = self._max_seq_length if max_patches is None else min(max_patches, self._max_seq_length)
        shape = (len(texts), self._patch_size, limit * self._patch_size)
        parts = min(self.workers, max(1, len(texts) // MIN_CHUNK))
        bounds = np.linspace(0, len(texts), parts + 1).astype(int)
        with self._lock:
            count = int(np.prod(shape))
            size = max(1, count)  # a file of one byte at least: an empty batch still maps it
            self._grow(size)
            path = self._buffer[0]
            connections = self._connections[:parts]
            try:
                for connection, start, end in zip(connections, bounds[:-1], bounds[1:]):
                    connection.send((path, shape, start, texts[start:end], limit))
                answers = [connection.recv() for connection in connections]
            except (EOFError, OSError) as error:
                raise BrokenProcessPool("a render worker process died") from error
            for answer in answers:
                if isinstance(answer, Exception):
                    raise answer
            lengths = np.concatenate([chunk_lengths for chunk_lengths, _ in answers]) if texts else np.empty(0, np.int64)
            width = int(lengths.max(initial=1)) * self._patch_size
            self._mapped = _map(path, size, self._mapped, "r")
            pixels = np.array(self._mapped[:count].reshape(shape)[:, :, :width])
            for start, end, (_, written) in zip(bounds[:-1], bounds[1:], answers):
                pixels[start:end, :, written:] = WHITE  # what an earlier, wider batch left there
        return pixels, lengths

    def _grow(self, size: int) -> None:
        """Make the buffer file hold ``size`` bytes, moving it to a new file where its file system has not
        room for twice that (as ``_buffer_file`` chooses)."""
        path = self._buffer[0]
        if os.path.getsize(path) >= size:
            return
        if shutil.disk_usage(os.path.dirname(path)).free < 2 * size:
            self._buffer[0], self._mapped = _buffer_file(size), None
            _remove(path)
        os.truncate(self._buffer[0], size)

    def close(self) -> None:
        self._mapped = None
        self._finalizer()
