"""ViT-MAE backbone configurations: size presets and PIXEL's strip geometry on transformers' ViTMAEConfig."""

from __future__ import annotations

import math

from transformers import ViTMAEConfig, ViTMAEModel

PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256},
    # 384 wide like all-MiniLM-L6-v2 (so it can distil from it) but 2 layers: the CPU-trainable stand-in size
    "mini": {"hidden_size": 384, "num_hidden_layers": 2, "num_attention_heads": 6, "intermediate_size": 1536},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}


def strip_config(preset: str = "base", max_seq_length: int = 64, patch_size: int = 16) -> ViTMAEConfig:
    """A ViTMAEConfig for a grayscale strip one patch high.

    PIXEL keeps 2-D sin-cos position embeddings on a square grid (23 x 23 for 529 patches) although its
    input is a 1 x N strip, and a strip uses the first N rows. We do the same: the grid is the smallest
    square holding ``max_seq_length`` patches, so ``image_size`` is (patch, grid**2 * patch).
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    grid = math.ceil(math.sqrt(max_seq_length))
    return ViTMAEConfig(
        **PRESETS[preset],
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        image_size=[patch_size, grid * grid * patch_size],
        patch_size=patch_size,
        num_channels=1,
        qkv_bias=True,
        mask_ratio=0.0,
        attn_implementation="sdpa",
    )


def num_positions(model: ViTMAEModel) -> int:
    """How many patches the backbone's position table covers (CLS row excluded)."""
    return model.embeddings.position_embeddings.shape[1] - 1
