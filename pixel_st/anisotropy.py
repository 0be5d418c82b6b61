"""Anisotropy: the mean pairwise cosine of embeddings of random sentences (Ethayarajh 2019's self-similarity
baseline), for the pooled output and, for pixel models, for each encoder layer's mean-pooled patches."""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import batch_to_device

from pixel_st.encoder import PixelEncoder


def mean_pairwise_cosine(embeddings: torch.Tensor) -> float:
    """Average cosine over all pairs i != j."""
    unit = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    count = len(unit)
    total = unit.sum(dim=0)
    return float((total @ total - count) / (count * (count - 1)))


@torch.no_grad()
def anisotropy(model: SentenceTransformer, sentences: list[str], batch_size: int = 64) -> dict[str, float]:
    """``{"pooled": ..., "layer_1": ..., ...}``; layers only when the first module is a PixelEncoder."""
    encoder = model[0]
    layers = list(encoder.vit.layers) if isinstance(encoder, PixelEncoder) else []
    per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
    pooled = []
    model.eval()
    for start in range(0, len(sentences), batch_size):
        captured = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: captured.append(out)) for layer in layers]
        try:
            features = batch_to_device(model.preprocess(sentences[start : start + batch_size]), model.device)
            output = model(features)
        finally:
            for hook in hooks:
                hook.remove()
        pooled.append(output["sentence_embedding"].cpu())
        mask = output["attention_mask"].unsqueeze(-1).float()
        for index, hidden in enumerate(captured):
            patches = hidden[:, 1:]  # CLS dropped, as in the pooled embedding
            per_layer[index].append(((patches * mask).sum(1) / mask.sum(1)).cpu())
    result = {"pooled": mean_pairwise_cosine(torch.cat(pooled))}
    for index, chunks in enumerate(per_layer):
        result[f"layer_{index + 1}"] = mean_pairwise_cosine(torch.cat(chunks))
    return result
