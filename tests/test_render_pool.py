"""Parallel rendering: worker processes give the same pixels and embeddings as rendering in-process."""

from __future__ import annotations

import glob
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from pixel_st import new_model
from pixel_st import render_pool
from pixel_st.render_pool import MIN_CHUNK, RenderPool
from pixel_st.renderer import TextRenderer

TEXTS = [("word " * (i % 23)) + f"sentence {i}" for i in range(70)] + ["", "مرحبا بالعالم " * 40, "Ünïcödé ✓"]


def test_pool_renders_the_same_pixels_as_one_process(font_file):
    renderer = TextRenderer(font=font_file, max_seq_length=32)
    pool = RenderPool(renderer, workers=2)
    try:
        for max_patches in (None, 8):
            expected_pixels, expected_lengths = renderer.render_batch(TEXTS, max_patches)
            pixels, lengths = pool.render_batch(TEXTS, max_patches)
            np.testing.assert_array_equal(lengths, expected_lengths)
            np.testing.assert_array_equal(pixels, expected_pixels)
    finally:
        pool.close()


def test_pool_reuses_its_buffer_without_leaking_an_earlier_batch(font_file):
    """The shared buffer outlives each batch and grows: a chunk of short strips must not show the pixels a
    wider earlier batch left in its rows, and a larger batch must reach past the old end of the buffer."""
    renderer = TextRenderer(font=font_file, max_seq_length=32)
    pool = RenderPool(renderer, workers=2)
    long_texts = ["a long sentence that fills the strip " * 3] * (2 * MIN_CHUNK)
    short_then_long = ["hi"] * MIN_CHUNK + ["a medium sentence here"] * MIN_CHUNK
    try:
        for texts in (long_texts, short_then_long, [], TEXTS * 3, short_then_long):
            expected_pixels, expected_lengths = renderer.render_batch(texts)
            pixels, lengths = pool.render_batch(texts)
            np.testing.assert_array_equal(lengths, expected_lengths)
            np.testing.assert_array_equal(pixels, expected_pixels)
    finally:
        pool.close()


def test_pool_moves_its_buffer_where_a_batch_fits(tmp_path, monkeypatch, font_file):
    """A container's /dev/shm is often 64 MB, and a worker that writes past a full tmpfs dies (SIGBUS): a batch
    whose buffer the shared-memory file system cannot hold twice over goes to a file in the temp directory."""
    shared = tmp_path / "shm"
    shared.mkdir()
    monkeypatch.setattr(render_pool, "SHARED_MEMORY", str(shared))
    free = {"bytes": 10**12}
    disk_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk_usage(path)._replace(free=free["bytes"])
                        if os.path.samefile(path, shared) else disk_usage(path))
    renderer = TextRenderer(font=font_file, max_seq_length=32)
    pool = RenderPool(renderer, workers=2)
    try:
        for texts, room in ((TEXTS, True), (TEXTS * 3, False), (TEXTS, False)):
            before = pool._buffer[0]
            if not room:  # less than twice what the larger batch needs: 219 strips of 16 x 32 x 16 pixels
                free["bytes"] = 2 * len(TEXTS) * 3 * 16 * 32 * 16 - 1
            expected_pixels, expected_lengths = renderer.render_batch(texts)
            pixels, lengths = pool.render_batch(texts)
            np.testing.assert_array_equal(lengths, expected_lengths)
            np.testing.assert_array_equal(pixels, expected_pixels)
            assert (os.path.dirname(pool._buffer[0]) == str(shared)) == room
            assert os.path.exists(before) == (before == pool._buffer[0]), "a moved buffer's old file is removed"
    finally:
        pool.close()
    assert not os.path.exists(pool._buffer[0])


def test_encoder_with_render_workers_gives_identical_embeddings():
    serial = new_model("tiny", seed=0)
    parallel = new_model("tiny", seed=0)
    parallel[0].render_workers = 2
    assert len(TEXTS) >= 2 * MIN_CHUNK
    np.testing.assert_array_equal(parallel.encode(TEXTS, batch_size=64), serial.encode(TEXTS, batch_size=64))
    assert parallel[0]._render_pool is not None  # the pool really ran

    parallel.max_seq_length = 16  # workers hold a copy of the renderer: a changed renderer gets a new pool
    serial.max_seq_length = 16
    np.testing.assert_array_equal(parallel.encode(TEXTS, batch_size=64), serial.encode(TEXTS, batch_size=64))
    parallel[0].render_workers = 0
    assert parallel[0]._render_pool is None


def test_pickled_copies_render_in_process():
    model = new_model("tiny", seed=0)
    model[0].render_workers = 3
    copy = pickle.loads(pickle.dumps(model[0]))
    assert copy.render_workers == 0 and copy._render_pool is None
    assert model[0].render_workers == 3


def test_sentence_transformers_multi_process_pool_encodes_the_same():
    """The stock pool pickles the module (after it has drawn, so with a cairo canvas) into spawned processes."""
    model = new_model("tiny", seed=0)
    model[0].render_workers = 2
    expected = model.encode(TEXTS, batch_size=64)
    pool = model.start_multi_process_pool(["cpu", "cpu"])
    try:
        np.testing.assert_allclose(model.encode(TEXTS, pool=pool, chunk_size=20), expected, atol=1e-6)
    finally:
        model.stop_multi_process_pool(pool)


@pytest.mark.parametrize("bad", [-1, 1.5, "4", True])
def test_render_workers_must_be_a_count(bad):
    with pytest.raises(ValueError, match="render_workers"):
        new_model("tiny")[0].render_workers = bad


def test_a_dead_worker_falls_back_to_in_process_rendering(caplog):
    serial = new_model("tiny", seed=0)
    parallel = new_model("tiny", seed=0)
    parallel[0].render_workers = 2
    expected = serial.encode(TEXTS, batch_size=64)
    np.testing.assert_array_equal(parallel.encode(TEXTS, batch_size=64), expected)
    for process in parallel[0]._render_pool._processes:
        process.kill()
        process.join()
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(parallel.encode(TEXTS, batch_size=64), expected)
    assert "render worker process died" in caplog.text
    assert parallel[0].render_workers == 0 and parallel[0]._render_pool is None
    parallel[0].render_workers = 2  # asked again: a fresh pool
    np.testing.assert_array_equal(parallel.encode(TEXTS, batch_size=64), expected)
    assert parallel[0]._render_pool is not None


def run_script(folder, source: str) -> subprocess.CompletedProcess:
    """``source`` run as a script in a fresh interpreter (its own ``__main__``, which spawned workers re-import)."""
    script = folder / "script.py"
    script.write_text(source)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)


def test_a_script_without_main_guard_still_encodes(tmp_path):
    """Spawned workers re-run an unguarded script and die; the encoder warns and renders in-process."""
    source = (
        "import numpy as np\n"
        "from pixel_st import new_model\n"
        "model = new_model('tiny', seed=0)\n"
        "texts = [f'sentence number {i}' for i in range(40)]\n"
        "expected = model.encode(texts)\n"
        "model[0].render_workers = 2\n"
        "assert np.array_equal(model.encode(texts), expected)\n"
        "print('ENCODED')\n"
    )
    buffers = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(), "pixel_st-render-*")
    before = set(glob.glob(buffers))
    result = run_script(tmp_path, source)
    assert result.returncode == 0 and "ENCODED" in result.stdout, result.stderr[-3000:]
    assert "render worker process died" in result.stderr
    assert set(glob.glob(buffers)) <= before, "the script or its dead workers left a shared buffer behind"


def test_a_forked_copy_leaves_the_parents_workers_alone(tmp_path):
    """A forked child (a DataLoader worker under fork, a pre-forking server) holds a copy of the pool's pipes:
    it renders in-process or with a pool of its own, and its copy going away does not stop the parent's
    workers (it used to send them the stop message)."""
    result = run_script(
        tmp_path,
        "import os, torch\n"
        "from pixel_st import new_model\n"
        "if __name__ == '__main__':\n"
        "    texts = [f'sentence number {i} ' * (i % 5 + 1) for i in range(200)]\n"
        "    model = new_model('tiny', seed=0)\n"
        "    encoder = model[0]\n"
        "    expected = encoder.preprocess(texts)['pixel_values']\n"
        "    encoder.render_workers = 2\n"
        "    assert torch.equal(encoder.preprocess(texts)['pixel_values'], expected)\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        torch.set_num_threads(1)  # as DataLoader workers do: OpenMP's threads do not survive a fork\n"
        "        same = torch.equal(encoder.preprocess(texts)['pixel_values'], expected)\n"
        "        encoder.render_workers = 0  # closes the child's own pool: os._exit skips every finalizer\n"
        "        os._exit(0 if same else 1)\n"
        "    print('child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
        "    loader = torch.utils.data.DataLoader(texts, batch_size=64, num_workers=2, multiprocessing_context='fork',\n"
        "                                         collate_fn=lambda rows: encoder.preprocess(rows)['pixel_values'])\n"
        "    batches = list(loader)\n"
        "    print('loader', all(torch.equal(b, encoder.preprocess(texts[i:i + 64])['pixel_values'])\n"
        "                        for b, i in zip(batches, range(0, 200, 64))))\n"
        "    print('parent', torch.equal(encoder.preprocess(texts)['pixel_values'], expected), encoder._render_pool is not None)\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["child", "0", "loader", "True", "parent", "True", "True"], result.stderr[-3000:]
    assert "render worker process died" not in result.stderr


def test_a_pool_left_open_in_a_forked_child_process_is_stopped_when_it_exits(tmp_path):
    """A multiprocessing child started by fork leaves through os._exit, past atexit: a pool it leaves open
    (its model still referenced) must still stop its workers and remove its buffer."""
    result = run_script(
        tmp_path,
        "import multiprocessing, torch\n"
        "from pixel_st import new_model\n"
        "KEPT = []\n"
        "def work():\n"
        "    torch.set_num_threads(1)\n"
        "    model = new_model('tiny', seed=0)\n"
        "    model[0].render_workers = 2\n"
        "    model[0].preprocess([f'sentence number {i}' for i in range(64)])\n"
        "    KEPT.append(model)\n"
        "    print('buffer', model[0]._render_pool._buffer[0], flush=True)\n"
        "if __name__ == '__main__':\n"
        "    child = multiprocessing.get_context('fork').Process(target=work)\n"
        "    child.start()\n"
        "    child.join()\n"
        "    print('exit', child.exitcode)\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (buffer,) = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("buffer ")]
    assert result.stdout.splitlines()[-1] == "exit 0" and not os.path.exists(buffer), result.stderr[-3000:]


def test_rendering_and_reading_sts_files_load_no_torch():
    """Render workers, and the render digest in the GPU kit (which has no torch), import only these."""
    code = ("import sys, pixel_st, pixel_st.render_pool, pixel_st.sts; pixel_st.DEFAULT_MODEL; "
            "pixel_st.sts.read_sts; assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
