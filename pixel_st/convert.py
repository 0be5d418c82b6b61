"""Convert published PIXEL / Pixel-Linguist checkpoints into pixel_st sentence-transformers models.

The hub repositories (``Team-PIXEL/pixel-base``, ``Pixel-Linguist/Pixel-Linguist-v0``) hold a ViTMAE
encoder under the prefix ``vit.`` with transformers-4.x parameter names, decoder/pooler weights we do not
use, and ``text_renderer_config.json`` with a font file. Names are mapped explicitly in both directions
(:func:`to_current_name`, :func:`to_legacy_name`); the 3 identical input channels of a grayscale strip are
folded into one by summing the patch projection over channels, which computes the same function.
"""

from __future__ import annotations

import json
import logging
import os
import re

import torch
from PIL import ImageFont
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
from transformers import ViTMAEConfig, ViTMAEModel

from pixel_st.encoder import PixelEncoder, assign_weights
from pixel_st.patch_mlp import PatchMLP
from pixel_st.renderer import TextRenderer

logger = logging.getLogger(__name__)

PIXEL_RENDERER_CONFIG = "text_renderer_config.json"
PROJECTION = "embeddings.patch_embeddings.projection.weight"

# transformers 4.x submodule names inside encoder.layer.N -> transformers 5.x names inside layers.N
_LAYER_NAMES = {
    "attention.attention.query": "attention.q_proj",
    "attention.attention.key": "attention.k_proj",
    "attention.attention.value": "attention.v_proj",
    "attention.output.dense": "attention.o_proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "layernorm_before": "layernorm_before",
    "layernorm_after": "layernorm_after",
}
_LAYER_NAMES_BACK = {current: legacy for legacy, current in _LAYER_NAMES.items()}
_TOP_LEVEL = ("embeddings.cls_token", "embeddings.position_embeddings", "embeddings.patch_embeddings.projection.")
_LEGACY_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")
_CURRENT_LAYER = re.compile(r"layers\.(\d+)\.(.+)\.(weight|bias)$")


def _rename(name: str, layer: re.Pattern, table: dict[str, str], template: str) -> str | None:
    if name.startswith(_TOP_LEVEL) or name in ("layernorm.weight", "layernorm.bias"):
        return name
    match = layer.fullmatch(name)
    if match and match.group(2) in table:
        return template.format(match.group(1), table[match.group(2)], match.group(3))
    return None


def to_current_name(legacy: str) -> str | None:
    """4.x ViTMAE encoder name -> 5.x name; None for names that are not encoder parameters."""
    return _rename(legacy, _LEGACY_LAYER, _LAYER_NAMES, "layers.{}.{}.{}")


def to_legacy_name(current: str) -> str | None:
    """5.x ViTMAE encoder name -> 4.x name; None for names that are not encoder parameters."""
    return _rename(current, _CURRENT_LAYER, _LAYER_NAMES_BACK, "encoder.layer.{}.{}.{}")


def fetch(source: str) -> str:
    """A local folder, or a hub repository downloaded (weights, configs, font) into the HF cache."""
    if os.path.isdir(source):
        return source
    from huggingface_hub import snapshot_download

    return snapshot_download(source, ignore_patterns=["*.msgpack", "*.h5", "*.onnx", "optimizer.pt", "*.md"])


def read_weights(folder: str) -> dict[str, torch.Tensor]:
    """model.safetensors, else pytorch_model.bin (loaded with weights_only: no code runs)."""
    safetensors_path = os.path.join(folder, "model.safetensors")
    if os.path.isfile(safetensors_path):
        return load_file(safetensors_path)
    bin_path = os.path.join(folder, "pytorch_model.bin")
    if os.path.isfile(bin_path):
        return torch.load(bin_path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"No model.safetensors or pytorch_model.bin in {folder}")


def encoder_prefix(state: dict[str, torch.Tensor]) -> str:
    """The prefix under which the checkpoint keeps its encoder (``vit.`` in PIXEL's classes)."""
    prefixes = sorted(key[: -len("embeddings.cls_token")] for key in state if key.endswith("embeddings.cls_token"))
    if not prefixes:
        raise ValueError("No ViTMAE encoder in the checkpoint: no key ends with 'embeddings.cls_token'")
    return prefixes[0]


def backbone_config(config: dict, state: dict[str, torch.Tensor], prefix: str) -> ViTMAEConfig:
    """Our one-channel ViTMAEConfig for a PIXEL config; the strip length comes from the position table."""
    patch_size = config.get("patch_size", 16)
    positions = state[prefix + "embeddings.position_embeddings"].shape[1] - 1
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
            "layer_norm_eps", "qkv_bias", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range")
    return ViTMAEConfig(
        **{key: config[key] for key in keys if key in config},
        image_size=[patch_size, positions * patch_size],
        patch_size=patch_size,
        num_channels=1,
        mask_ratio=0.0,
        attn_implementation="sdpa",
    )


def encoder_state(state: dict[str, torch.Tensor], prefix: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map the encoder weights to our names (folding input channels); return them and the ignored keys."""
    converted, ignored = {}, []
    for key, tensor in state.items():
        name = to_current_name(key[len(prefix) :]) if key.startswith(prefix) else None
        if name is None:
            ignored.append(key)
            continue
        if name == PROJECTION:
            tensor = tensor.sum(dim=1, keepdim=True)
        converted[name] = tensor
    return converted, ignored


def find_font(folder: str, renderer_config: dict) -> str:
    """The renderer's font file; some repositories store it under a hashed name, so fall back to any
    file in the folder that FreeType reads as a font."""
    named = os.path.join(folder, renderer_config.get("font_file") or "")
    if os.path.isfile(named):
        return named
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not name.endswith((".json", ".bin", ".safetensors", ".md", ".txt")):
            try:
                ImageFont.truetype(path)
            except OSError:
                continue
            return path
    raise FileNotFoundError(f"No font file in {folder} (text_renderer_config.json names {renderer_config.get('font_file')!r})")


def find_mlp_head(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """Pixel-Linguist's per-patch head (``<prefix>linear`` + ``<prefix>ln``), if the checkpoint has one."""
    for key in sorted(state):
        if key.endswith("linear.weight"):
            prefix = key[: -len("linear.weight")]
            names = ("linear.weight", "linear.bias", "ln.weight", "ln.bias")
            if all(prefix + name in state for name in names):
                return {name: state[prefix + name] for name in names}
    return None


def convert(source: str, max_seq_length: int = 64, with_mlp_head: bool = False) -> SentenceTransformer:
    """Load a PIXEL-layout checkpoint (hub id or folder) as ``[PixelEncoder, (PatchMLP), Pooling, Normalize]``.

    Args:
        source: ``Team-PIXEL/pixel-base``, ``Pixel-Linguist/Pixel-Linguist-v0`` or a folder laid out like them.
        max_seq_length: patches per strip; 64 is the paper's sentence setting (at most the position table).
        with_mlp_head: keep the training head (Pixel-Linguist encodes without it).

    Raises:
        ValueError / FileNotFoundError: missing encoder weights, config or font, naming what is missing.
    """
    folder = fetch(source)
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"config.json is missing in {folder}")
    with open(config_path, encoding="utf-8") as file:
        config = json.load(file)
    state = read_weights(folder)
    prefix = encoder_prefix(state)
    with torch.device("meta"):  # every tensor comes from the checkpoint
        vit = ViTMAEModel(backbone_config(config, state, prefix))
    converted, ignored = encoder_state(state, prefix)
    missing = sorted(set(vit.state_dict()) - set(converted))
    if missing:
        raise ValueError(f"Checkpoint {source} lacks encoder weights: {missing}")
    assign_weights(vit, converted)
    if ignored:
        logger.info("Ignored %d non-encoder weights (decoder, pooler, heads), e.g. %s", len(ignored), ignored[:3])

    renderer_path = os.path.join(folder, PIXEL_RENDERER_CONFIG)
    if not os.path.isfile(renderer_path):
        raise FileNotFoundError(f"{PIXEL_RENDERER_CONFIG} is missing in {folder}")
    with open(renderer_path, encoding="utf-8") as file:
        renderer_config = json.load(file)
    renderer = TextRenderer(
        font=os.path.abspath(find_font(folder, renderer_config)),
        font_size=renderer_config.get("font_size", 8),
        dpi=renderer_config.get("dpi", 120),
        patch_size=renderer_config.get("pixels_per_patch", 16),
        max_seq_length=max_seq_length,
    )
    encoder = PixelEncoder(vit, renderer)
    modules = [encoder]
    if with_mlp_head:
        head_state = find_mlp_head(state)
        if head_state is None:
            raise ValueError(f"Checkpoint {source} has no MLP head (linear + ln weights)")
        head = PatchMLP(encoder.get_embedding_dimension())
        head.load_state_dict(head_state)
        modules.append(head)
    modules += [Pooling(encoder.get_embedding_dimension(), pooling_mode="mean"), Normalize()]
    return SentenceTransformer(modules=modules)
