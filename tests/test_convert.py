"""Converting PIXEL / Pixel-Linguist checkpoints, verified against transformers' own ViTMAE forward.

The fixtures fabricate folders laid out like the hub repositories: a tiny random ViTMAEForPreTraining
saved by transformers (which writes the 4.x parameter names those repositories carry), config.json
rewritten to model_type "pixel", text_renderer_config.json and a system font as the font file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from transformers import ViTMAEConfig, ViTMAEForPreTraining

from pixel_st.cli import main
from pixel_st.convert import convert, to_current_name, to_legacy_name
from pixel_st.encoder import strips_from_patches

POSITIONS = 16  # a 4 x 4 position grid, like PIXEL's 23 x 23 for 529 patches
LONG_TEXT = "A strip with no padding at all needs a sentence long enough to fill every patch. " * 3


def _reference() -> ViTMAEForPreTraining:
    torch.manual_seed(0)
    config = ViTMAEConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, layer_norm_eps=1e-12,
        image_size=[16, 16 * POSITIONS], patch_size=16, num_channels=3, qkv_bias=True, mask_ratio=0.25,
        decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
    )
    model = ViTMAEForPreTraining(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # no symmetric init values that could hide a mix-up
            parameter.normal_(0, 0.2)
    return model


def _renderer_config(font_file: str) -> dict:
    return {"font_file": font_file, "font_size": 8, "dpi": 120, "pixels_per_patch": 16, "max_seq_length": 529,
            "rgb": False, "background_color": "white", "font_color": "black", "fallback_fonts_dir": None}


def _hub_files(folder, config_source, font_file, font_name, **config_changes):
    """config.json (from config_source, changed), the font under font_name, text_renderer_config.json."""
    config = json.loads((config_source / "config.json").read_text())
    config.update(config_changes)
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(font_file, folder / font_name)
    (folder / "text_renderer_config.json").write_text(json.dumps(_renderer_config("GoNotoCurrent.ttf")))


@pytest.fixture(scope="module")
def reference() -> ViTMAEForPreTraining:
    return _reference()


@pytest.fixture(scope="module")
def pixel_base_dir(tmp_path_factory, reference, font_file):
    """Laid out like Team-PIXEL/pixel-base: model.safetensors, model_type pixel, GoNotoCurrent.ttf."""
    folder = tmp_path_factory.mktemp("pixel-base")
    reference.save_pretrained(folder)
    _hub_files(folder, folder, font_file, "GoNotoCurrent.ttf", model_type="pixel", architectures=["PIXELForPreTraining"])
    return folder


@pytest.fixture(scope="module")
def linguist_dir(tmp_path_factory, pixel_base_dir, font_file):
    """Laid out like Pixel-Linguist-v0: pytorch_model.bin with a pooler head, a hashed font blob name."""
    folder = tmp_path_factory.mktemp("pixel-linguist")
    state = {k: v for k, v in load_file(pixel_base_dir / "model.safetensors").items() if k.startswith("vit.")}
    torch.manual_seed(1)
    state.update({"pooler.linear.weight": torch.randn(32, 32), "pooler.linear.bias": torch.randn(32),
                  "pooler.ln.weight": torch.randn(32), "pooler.ln.bias": torch.randn(32)})
    torch.save(state, folder / "pytorch_model.bin")
    _hub_files(folder, pixel_base_dir, font_file, "renderer.renderer",
               model_type="vit_mae", architectures=["PIXELForSequenceClassification"])
    return folder


def test_fabricated_checkpoint_has_the_legacy_names(pixel_base_dir):
    keys = set(load_file(pixel_base_dir / "model.safetensors"))
    assert "vit.encoder.layer.0.attention.attention.query.weight" in keys
    assert "vit.encoder.layer.1.output.dense.bias" in keys and any(k.startswith("decoder.") for k in keys)


def test_name_mapping_both_directions(reference):
    current = set(reference.vit.state_dict())
    legacy = {to_legacy_name(name) for name in current}
    assert None not in legacy and len(legacy) == len(current)
    assert {to_current_name(name) for name in legacy} == current
    assert to_current_name("encoder.layer.3.attention.output.dense.weight") == "layers.3.attention.o_proj.weight"
    assert to_current_name("encoder.layer.3.output.dense.weight") == "layers.3.mlp.fc2.weight"
    assert to_legacy_name("layers.0.mlp.fc1.bias") == "encoder.layer.0.intermediate.dense.bias"
    assert to_current_name("decoder.decoder_layers.0.output.dense.weight") is None


def test_every_encoder_weight_is_used(reference, pixel_base_dir):
    vit = convert(str(pixel_base_dir), max_seq_length=POSITIONS)[0].vit
    source = reference.vit.state_dict()
    for name, tensor in vit.state_dict().items():
        expected = source[name]
        if name.endswith("projection.weight"):
            expected = expected.sum(dim=1, keepdim=True)
        assert torch.equal(tensor, expected), name
    assert set(vit.state_dict()) == set(source)


def _reference_forward(reference, pixels, mask):
    """transformers' own ViTMAEModel: mask_ratio 0 and noise = arange, so nothing is dropped or shuffled."""
    reference.vit.config.mask_ratio = 0.0
    image = pixels.float().div(255).expand(-1, 3, -1, -1)
    noise = torch.arange(POSITIONS, dtype=torch.float32).expand(len(image), -1)
    keys = torch.cat([torch.ones(len(mask), 1, dtype=mask.dtype), mask], dim=1)
    with torch.no_grad():
        return reference.vit(pixel_values=image, noise=noise, attention_mask=keys).last_hidden_state


def test_forward_equals_transformers_vitmae_without_padding(reference, pixel_base_dir):
    encoder = convert(str(pixel_base_dir), max_seq_length=POSITIONS)[0]
    features = encoder.preprocess([LONG_TEXT, LONG_TEXT[5:]])
    assert features["attention_mask"].all(), "the strips must fill every patch"
    strips = strips_from_patches(features["pixel_values"], 16)
    expected = _reference_forward(reference, strips, features["attention_mask"])
    with torch.no_grad():
        ours = encoder(dict(features))["token_embeddings"]
    torch.testing.assert_close(ours, expected[:, 1:], atol=1e-5, rtol=0)


def test_pooled_embedding_is_the_papers_definition(reference, pixel_base_dir):
    """Mean over text patches + black patch of the last hidden state without CLS, then L2-normalised."""
    model = convert(str(pixel_base_dir), max_seq_length=POSITIONS)
    texts = ["Short.", "A somewhat longer sentence.", LONG_TEXT]
    features = model[0].renderer.render_batch(texts, POSITIONS)
    pixels = torch.full((3, 1, 16, 16 * POSITIONS), 255, dtype=torch.uint8)  # PIXEL's full-width strips
    pixels[..., : features[0].shape[2]] = torch.from_numpy(features[0]).unsqueeze(1)
    mask = (torch.arange(POSITIONS)[None] < torch.from_numpy(features[1])[:, None]).long()
    hidden = _reference_forward(reference, pixels, mask)[:, 1:]
    mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    expected = torch.nn.functional.normalize(mean, dim=-1)
    torch.testing.assert_close(model.encode(texts, convert_to_tensor=True), expected, atol=1e-5, rtol=0)


def test_pixel_linguist_layout_with_bin_weights_hashed_font_and_head(linguist_dir, pixel_base_dir):
    with_head = convert(str(linguist_dir), max_seq_length=POSITIONS, with_mlp_head=True)
    head = with_head[1]
    assert type(head).__name__ == "PatchMLP"
    assert torch.equal(head.linear.weight, torch.load(linguist_dir / "pytorch_model.bin")["pooler.linear.weight"])
    base = convert(str(pixel_base_dir), max_seq_length=POSITIONS)
    texts = ["The same encoder weights.", "Different head."]
    torch.testing.assert_close(
        convert(str(linguist_dir), max_seq_length=POSITIONS).encode(texts, convert_to_tensor=True),
        base.encode(texts, convert_to_tensor=True),
    )
    assert not torch.allclose(with_head.encode(texts, convert_to_tensor=True), base.encode(texts, convert_to_tensor=True))


def test_max_seq_length_beyond_the_position_table_is_an_error(pixel_base_dir):
    with pytest.raises(ValueError, match="exceeds the backbone's 16 position embeddings"):
        convert(str(pixel_base_dir), max_seq_length=POSITIONS + 1)


def test_missing_encoder_weight_is_an_error(pixel_base_dir, tmp_path):
    shutil.copytree(pixel_base_dir, tmp_path / "broken")
    state = load_file(tmp_path / "broken" / "model.safetensors")
    del state["vit.encoder.layer.1.attention.attention.key.weight"]
    (tmp_path / "broken" / "model.safetensors").unlink()
    torch.save(state, tmp_path / "broken" / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"lacks encoder weights: \['layers.1.attention.k_proj.weight'\]"):
        convert(str(tmp_path / "broken"), max_seq_length=POSITIONS)


def test_cli_convert_writes_a_stock_loadable_folder(pixel_base_dir, tmp_path, capsys):
    main(["convert", str(pixel_base_dir), str(tmp_path / "out"), "--max-seq-length", str(POSITIONS)])
    loaded = SentenceTransformer(str(tmp_path / "out"), trust_remote_code=True)
    texts = ["Converted once, loaded anywhere."]
    expected = convert(str(pixel_base_dir), max_seq_length=POSITIONS).encode(texts)
    assert (loaded.encode(texts) == expected).all()
    assert (tmp_path / "out" / "fonts" / "GoNotoCurrent.ttf").is_file()


def test_model_with_mlp_head_saves_and_loads(linguist_dir, tmp_path):
    model = convert(str(linguist_dir), max_seq_length=POSITIONS, with_mlp_head=True)
    model.save(str(tmp_path / "with-head"))
    loaded = SentenceTransformer(str(tmp_path / "with-head"), trust_remote_code=True)
    assert type(loaded[1]).__name__ == "PatchMLP"
    texts = ["Trained with the head.", "Saved with it too."]
    assert (loaded.encode(texts) == model.encode(texts)).all()


def test_converted_backbone_has_every_tensor_and_a_frozen_position_table(pixel_base_dir):
    vit = convert(str(pixel_base_dir), max_seq_length=POSITIONS)[0].vit
    assert all(tensor.device.type == "cpu" and tensor.dtype == torch.float32 for tensor in vit.state_dict().values())
    assert not vit.embeddings.position_embeddings.requires_grad and vit.embeddings.cls_token.requires_grad


def test_a_recipe_starts_from_a_converted_checkpoint_or_a_saved_folder(pixel_base_dir, data_dir, tmp_path):
    from pixel_st.recipe import run_recipe, starting_model

    texts = ["Converted once.", "Loaded again."]
    converted = starting_model({"convert": str(pixel_base_dir), "max_seq_length": POSITIONS})
    expected = convert(str(pixel_base_dir), max_seq_length=POSITIONS).encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(converted.encode(texts, convert_to_tensor=True), expected, atol=0, rtol=0)
    converted.save(str(tmp_path / "saved"))
    loaded = starting_model({"path": str(tmp_path / "saved")})
    torch.testing.assert_close(loaded.encode(texts, convert_to_tensor=True), expected, atol=0, rtol=0)
    with pytest.raises(ValueError, match="expected 'preset', 'convert' or 'path', got \\['checkpoint'\\]"):
        starting_model({"checkpoint": str(pixel_base_dir)})

    stage = {"name": "nli", "max_steps": 2, "data": {"type": "nli", "path": "nli/nli_train.tsv.gz", "limit": 32}}
    for name, spec in [("from-convert", {"convert": str(pixel_base_dir), "max_seq_length": POSITIONS}),
                       ("from-path", {"path": str(tmp_path / "saved")})]:
        recipe = {"output_dir": str(tmp_path / name), "data_dir": str(data_dir), "model": spec,
                  "defaults": {"batch_size": 8, "learning_rate": 1e-3}, "stages": [stage]}
        trained = run_recipe(recipe)
        backbone = trained[0].vit.config
        assert (backbone.hidden_size, trained.max_seq_length) == (32, POSITIONS)  # the checkpoint's, not a preset's
        settings, start = trained[0].renderer.config_dict(), converted[0].renderer.config_dict()
        assert Path(settings.pop("font")).name == Path(start.pop("font")).name == "GoNotoCurrent.ttf"
        assert settings == start
        assert not torch.allclose(trained.encode(texts, convert_to_tensor=True), expected)  # it trained
