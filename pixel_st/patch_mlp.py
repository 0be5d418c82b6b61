"""PatchMLP: Pixel-Linguist's training head, Linear -> GELU -> LayerNorm on every patch before pooling."""

from __future__ import annotations

import os
from typing import Any

import torch
from safetensors.torch import load_file
from sentence_transformers.base.modules import Module
from torch import nn


class PatchMLP(Module):
    """Applied to ``token_embeddings`` between the encoder and ``Pooling``.

    The paper trains with this head and encodes without it ("train with the MLP, infer without it"):
    put it in the module list for training and drop it (``model.pop(1)``-style) before saving for inference.
    """

    config_keys = ["hidden_size", "layer_norm_eps"]

    def __init__(self, hidden_size: int, layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.layer_norm_eps = layer_norm_eps
        self.linear = nn.Linear(hidden_size, hidden_size)
        self.activation = nn.GELU()
        self.ln = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        features["token_embeddings"] = self.ln(self.activation(self.linear(features["token_embeddings"])))
        return features

    def get_embedding_dimension(self) -> int:
        return self.hidden_size

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=True)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> PatchMLP:
        hub = {key: kwargs[key] for key in ("token", "cache_folder", "revision", "local_files_only") if key in kwargs}
        module = cls(**cls.load_config(model_name_or_path, subfolder=subfolder, **hub))
        weights = cls.load_file_path(model_name_or_path, "model.safetensors", subfolder=subfolder, **hub)
        if weights is None:
            raise FileNotFoundError(f"model.safetensors is missing in {os.path.join(model_name_or_path, subfolder)}")
        module.load_state_dict(load_file(weights))
        return module
