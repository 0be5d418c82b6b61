"""Distillation loss: match the teacher's embedding and pick it out among the batch's teacher embeddings."""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import EmbedDistillLoss
from torch import Tensor, nn


class TeacherContrastiveLoss(EmbedDistillLoss):
    """sentence-transformers' ``EmbedDistillLoss`` (cosine distance to the teacher's embedding, given as the
    ``label`` column) plus an in-batch InfoNCE term: each student embedding must score its own teacher
    embedding above the teacher embeddings of the other rows.

    Plain MSE to unit vectors gives a weak signal (a 384-wide MSE is ``(2 - 2 cos) / 384``); the contrastive
    term also teaches which sentences differ, which is what STS rewards.

    Args:
        model: the student.
        scale: inverse temperature of the InfoNCE logits (cosine similarities).
        contrastive_weight: weight of the InfoNCE term; 0 leaves the stock cosine distillation loss.
    """

    def __init__(self, model: SentenceTransformer, scale: float = 20.0, contrastive_weight: float = 1.0) -> None:
        super().__init__(model, distance_metric="cosine")
        self.scale = scale
        self.contrastive_weight = contrastive_weight

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], teacher_embeddings: list[Tensor]) -> Tensor:
        distance = super().compute_loss_from_embeddings(embeddings, teacher_embeddings)
        if not self.contrastive_weight:
            return distance
        contrastive = []
        for student, teacher in zip(embeddings, teacher_embeddings):
            teacher = nn.functional.normalize(teacher.to(device=student.device, dtype=student.dtype), dim=-1)
            logits = self.scale * nn.functional.normalize(student, dim=-1) @ teacher.T
            targets = torch.arange(len(logits), device=logits.device)
            contrastive.append(nn.functional.cross_entropy(logits, targets))
        return distance + self.contrastive_weight * torch.stack(contrastive).mean()

    def get_config_dict(self) -> dict:
        return {"distance_metric": "cosine", "scale": self.scale, "contrastive_weight": self.contrastive_weight}
