"""Messy input, concurrency, corrupt model folders and what loading may execute."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentence_transformers import SentenceTransformer

from pixel_st.renderer import TextRenderer

# Every code point, surrogates (Cs) and control characters included.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
tricky_text = st.lists(
    st.sampled_from(
        ["\u0000", "\u200b", "\u200d", "\u202e", "\u0301" * 20, "\ud800", "\udfff", "\U0001f600", "\U0001f468\u200d\U0001f469",
         "مرحبا", "שלום", "你好", " ", "\t", "\n", "\r\n", "\u2028", "\ufeff", "\U0010fffd", "abc", "ǅ", "\x7f", "\x85"]
    ),
    max_size=40,
).map("".join)


@pytest.fixture(scope="module")
def renderer() -> TextRenderer:
    return TextRenderer()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(any_text, tricky_text))
def test_any_string_encodes_to_a_finite_vector(tiny_model, text):
    embedding = tiny_model.encode([text])
    assert embedding.shape == (1, 64) and np.isfinite(embedding).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(any_text, tricky_text))
def test_rendering_is_deterministic_and_well_formed(renderer, text):
    first, second = renderer.render(text), renderer.render(text)
    assert np.array_equal(first, second)
    assert first.shape[0] == 16 and first.shape[1] % 16 == 0 and 32 <= first.shape[1] <= 64 * 16
    assert (first[:, -16:] == 0).all()


@pytest.mark.parametrize("text", ["", " ", "   \t\n ", "a" * 100_000, "\u0301" * 100_000, "مرحبا " * 20_000])
def test_edge_strings(tiny_model, text):
    embedding = tiny_model.encode([text])
    assert np.isfinite(embedding).all()


def test_eight_threads_match_serial_encoding(tiny_model, data_dir):
    import gzip

    with gzip.open(data_dir / "sts" / "stsb_en_dev.tsv.gz", "rt", encoding="utf-8") as file:
        sentences = [line.split("\t")[0] for line in file.read().splitlines()[1:201]]
    serial = tiny_model.encode(sentences, batch_size=16)
    chunks = [sentences[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda chunk: tiny_model.encode(chunk, batch_size=4), chunks))
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, serial[i::8], atol=1e-6, rtol=0)


def test_multi_process_pool(tiny_model):
    sentences = [f"sentence number {i}" for i in range(40)]
    pool = tiny_model.start_multi_process_pool(["cpu", "cpu"])
    try:
        pooled = tiny_model.encode(sentences, pool=pool, batch_size=8, chunk_size=10)
    finally:
        tiny_model.stop_multi_process_pool(pool)
    np.testing.assert_allclose(pooled, tiny_model.encode(sentences, batch_size=8), atol=1e-6, rtol=0)


def _broken_copy(source, target, mutate):
    shutil.copytree(source, target)
    mutate(target)
    return str(target)


def _edit_json(path, **changes):
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    "name, mutate, error, message",
    [
        ("no-weights", lambda d: (d / "model.safetensors").unlink(), FileNotFoundError, "model.safetensors is missing"),
        ("garbage-weights", lambda d: (d / "model.safetensors").write_bytes(b"garbage" * 9), ValueError,
         "Corrupt weights file .*model.safetensors"),
        ("wrong-shape", lambda d: _edit_json(d / "config.json", hidden_size=128), ValueError,
         "model.safetensors do not fit .*config.json"),
        ("bad-config", lambda d: (d / "config.json").write_text("{oops"), ValueError, "Corrupt backbone config .*config.json"),
        ("no-renderer", lambda d: (d / "renderer_config.json").unlink(), FileNotFoundError, "renderer_config.json is missing"),
        ("bad-renderer", lambda d: (d / "renderer_config.json").write_text("[]"), ValueError,
         "Corrupt renderer config .*renderer_config.json: expected a JSON object"),
        ("bad-own-config", lambda d: (d / "pixel_encoder_config.json").write_text("{oops"), ValueError,
         "Corrupt pixel_st config .*pixel_encoder_config.json"),
        ("too-long", lambda d: _edit_json(d / "renderer_config.json", max_seq_length=10_000), ValueError,
         "renderer_config.json does not fit .*config.json: max_seq_length 10000 exceeds"),
        ("other-patch", lambda d: _edit_json(d / "renderer_config.json", patch_size=8), ValueError,
         "renderer_config.json does not fit .*config.json: renderer patch_size 8 != backbone patch_size 16"),
        ("missing-font", lambda d: _edit_json(d / "renderer_config.json", font="fonts/gone.ttf"), FileNotFoundError,
         "Font file not found: .*fonts/gone.ttf"),
        ("unknown-family", lambda d: _edit_json(d / "renderer_config.json", font="Gone Sans"), ValueError,
         "renderer_config.json: Unknown font family 'Gone Sans'"),
    ],
)
def test_corrupt_model_folder_errors_name_the_file(tiny_model_dir, tmp_path, name, mutate, error, message):
    folder = _broken_copy(tiny_model_dir, tmp_path / name, mutate)
    with pytest.raises(error, match=message):
        SentenceTransformer(folder, trust_remote_code=True)


def test_loading_never_executes_code_from_the_model_folder(tiny_model_dir, tmp_path):
    sentinel = tmp_path / "executed"
    payload = f"open({str(sentinel)!r}, 'w').write('x')\nclass PixelEncoder: pass\n"

    def plant(folder):
        for name in ("pixel_st.encoder.py", "pixel_st.py", "encoder.py", "custom_st.py"):
            (folder / name).write_text(payload)
        (folder / "pixel_st").mkdir()
        (folder / "pixel_st" / "__init__.py").write_text(payload)
        (folder / "pixel_st" / "encoder.py").write_text(payload)

    folder = _broken_copy(tiny_model_dir, tmp_path / "planted", plant)
    model = SentenceTransformer(folder, trust_remote_code=True)
    assert type(model[0]).__module__ == "pixel_st.encoder"
    assert not sentinel.exists(), "code from the model folder ran"
    assert np.isfinite(model.encode(["still works"])).all()


@pytest.mark.parametrize("binding", ["gi", "cairo"])
def test_missing_pango_bindings_say_what_to_install(tiny_model_dir, binding):
    """A machine without PyGObject or pycairo (e.g. a GPU image without Pango) gets install instructions when
    it loads a model, not a bare ``No module named 'gi'``."""
    script = f"import sys; sys.modules[{binding!r}] = None\n" + (
        "from sentence_transformers import SentenceTransformer\n"
        f"SentenceTransformer({str(tiny_model_dir)!r}, trust_remote_code=True)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: pixel_st draws text with Pango and cairo through PyGObject")
    assert f"import of {binding} halted" in last_line and "gir1.2-pango-1.0" in last_line and "pygobject<3.51" in last_line
