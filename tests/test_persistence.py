"""Saving through stock sentence-transformers and loading back in a process that never imports pixel_st."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from pixel_st import new_model

SENTENCES = ["A man is playing a guitar.", "Ein Mann spielt Gitarre.", "", "مرحبا"]

LOAD_AND_ENCODE = """
import sys, numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], trust_remote_code=True)
np.save(sys.argv[2], model.encode({sentences!r}))
assert "pixel_st" not in sys.argv[0]
"""


def test_folder_layout(tiny_model_dir):
    files = set(os.listdir(tiny_model_dir))
    assert {"modules.json", "config.json", "model.safetensors", "renderer_config.json", "pixel_encoder_config.json"} <= files
    modules = json.loads((tiny_model_dir / "modules.json").read_text())
    assert modules[0]["type"] == "pixel_st.encoder.PixelEncoder" and modules[0]["path"] == ""
    assert json.loads((tiny_model_dir / "config.json").read_text())["model_type"] == "vit_mae"
    requirements = json.loads((tiny_model_dir / "config_sentence_transformers.json").read_text())["requirements"]
    assert "pixel-st" in requirements


def test_round_trip_in_a_fresh_process_is_bit_identical(tiny_model, tiny_model_dir, tmp_path):
    out = tmp_path / "embeddings.npy"
    script = LOAD_AND_ENCODE.format(sentences=SENTENCES)
    subprocess.run([sys.executable, "-c", script, str(tiny_model_dir), str(out)], check=True)
    assert np.array_equal(np.load(out), tiny_model.encode(SENTENCES))


def test_loading_needs_trust_remote_code(tiny_model_dir):
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        SentenceTransformer(str(tiny_model_dir))


def test_unmet_requirement_gives_sentence_transformers_message(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path))
    path = tmp_path / "config_sentence_transformers.json"
    config = json.loads(path.read_text())
    config["requirements"]["pixel-st"]["specifier"] = ">=99"
    path.write_text(json.dumps(config))
    with pytest.raises(ImportError, match="pixel-st>=99"):
        SentenceTransformer(str(tmp_path), trust_remote_code=True)


def test_font_file_is_copied_into_the_model(font_file, tmp_path):
    model = new_model("tiny", seed=1, font=font_file)
    model.save(str(tmp_path / "m"))
    assert (tmp_path / "m" / "fonts" / os.path.basename(font_file)).is_file()
    config = json.loads((tmp_path / "m" / "renderer_config.json").read_text())
    assert config["font"] == os.path.join("fonts", os.path.basename(font_file))
    loaded = SentenceTransformer(str(tmp_path / "m"), trust_remote_code=True)
    assert np.array_equal(loaded.encode(SENTENCES), model.encode(SENTENCES))


def test_loading_builds_no_random_weights_and_keeps_the_frozen_position_table(tiny_model, tiny_model_dir):
    loaded = SentenceTransformer(str(tiny_model_dir), trust_remote_code=True)
    assert all(tensor.device.type == "cpu" for tensor in loaded.state_dict().values())
    assert not loaded[0].vit.embeddings.position_embeddings.requires_grad  # fixed sin-cos table, as in ViT-MAE
    assert loaded[0].vit.embeddings.cls_token.requires_grad
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_model_kwargs_choose_dtype_and_attention(tiny_model, tiny_model_dir, tmp_path):
    reference = tiny_model.encode(SENTENCES, convert_to_tensor=True)
    bf16 = SentenceTransformer(str(tiny_model_dir), trust_remote_code=True, model_kwargs={"torch_dtype": torch.bfloat16})
    assert bf16.dtype == torch.bfloat16 and {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    agreement = (bf16.encode(SENTENCES, convert_to_tensor=True).float() * reference).sum(-1)
    assert agreement.min() > 0.99
    eager = SentenceTransformer(str(tiny_model_dir), trust_remote_code=True, model_kwargs={"attn_implementation": "eager"})
    assert eager[0].vit.config._attn_implementation == "eager"
    torch.testing.assert_close(eager.encode(SENTENCES, convert_to_tensor=True), reference, atol=1e-5, rtol=0)

    half_folder = tmp_path / "fp16"
    new_model("tiny", seed=0).half().save(str(half_folder))
    assert SentenceTransformer(str(half_folder), trust_remote_code=True).dtype == torch.float32
    stored = SentenceTransformer(str(half_folder), trust_remote_code=True, model_kwargs={"dtype": "auto"})
    assert stored.dtype == torch.float16


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_kwargs": {"colour": "red"}}, "does not take model_kwargs"),
        ({"model_kwargs": {"dtype": "int8"}}, "dtype"),
        ({"config_kwargs": {"hidden_dropout": 0.1}}, r"config_kwargs \['hidden_dropout'\]"),
        ({"processor_kwargs": {"font_size": 12}}, "no processor_kwargs"),
        ({"backend": "onnx"}, "torch backend only"),
    ],
)
def test_bad_load_options_are_named(tiny_model_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SentenceTransformer(str(tiny_model_dir), trust_remote_code=True, **kwargs)


def test_config_kwargs_set_the_backbones_dropout(tiny_model, tiny_model_dir):
    model = SentenceTransformer(str(tiny_model_dir), trust_remote_code=True, config_kwargs={"hidden_dropout_prob": 0.3})
    rates = {module.p for module in model[0].vit.modules() if isinstance(module, torch.nn.Dropout)}
    assert model[0].vit.config.hidden_dropout_prob == 0.3 and 0.3 in rates
    model.eval()
    torch.testing.assert_close(
        model.encode(SENTENCES, convert_to_tensor=True), tiny_model.encode(SENTENCES, convert_to_tensor=True), atol=1e-6, rtol=0
    )
