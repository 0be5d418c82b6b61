"""Weight averaging of several runs of one architecture (the paper averages its four stage-1 runs)."""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer


def average_weights(models: list[SentenceTransformer]) -> SentenceTransformer:
    """A model whose floating-point parameters and buffers are the element-wise mean of ``models``'
    (the first model is returned, overwritten); all must share one architecture."""
    if not models:
        raise ValueError("average_weights needs at least one model")
    states = [model.state_dict() for model in models]
    shapes = {key: tensor.shape for key, tensor in states[0].items()}
    for index, state in enumerate(states[1:], start=1):
        if {key: tensor.shape for key, tensor in state.items()} != shapes:
            raise ValueError(f"Model {index} does not have the same parameters (names and shapes) as model 0")
    averaged = {}
    for key, tensor in states[0].items():
        if tensor.is_floating_point():
            averaged[key] = torch.stack([state[key].float() for state in states]).mean(dim=0).to(tensor.dtype)
        else:
            averaged[key] = tensor
    models[0].load_state_dict(averaged)
    return models[0]
