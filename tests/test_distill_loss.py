"""TeacherContrastiveLoss: stock cosine distillation plus in-batch InfoNCE against the teacher's embeddings."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import EmbedDistillLoss

from pixel_st import new_model
from pixel_st.distill_loss import TeacherContrastiveLoss

TEXTS = ["A man is playing a guitar.", "The cat sleeps.", "Stocks fell sharply on Monday.", "Il pleut."]


def _features(model, texts):
    return [model.preprocess(texts)]


def test_loss_is_cosine_distance_plus_infonce():
    model = new_model("tiny", seed=0).eval()
    teacher = torch.nn.functional.normalize(torch.randn(len(TEXTS), model.get_embedding_dimension()), dim=-1)
    with torch.no_grad():
        student = model.encode(TEXTS, convert_to_tensor=True)
        got = TeacherContrastiveLoss(model, scale=10.0, contrastive_weight=0.5)(_features(model, TEXTS), teacher)
        stock = EmbedDistillLoss(model, distance_metric="cosine")(_features(model, TEXTS), teacher)
    cosine = (1 - (student * teacher).sum(-1)).mean()
    infonce = torch.nn.functional.cross_entropy(10.0 * student @ teacher.T, torch.arange(len(TEXTS)))
    assert stock == pytest.approx(float(cosine), abs=1e-5)
    assert got == pytest.approx(float(cosine + 0.5 * infonce), abs=1e-5)


def test_two_columns_both_target_the_label():
    """Parallel pairs: the English side and its translation both regress (and pick out) the English vector."""
    model = new_model("tiny", seed=0).eval()
    teacher = torch.nn.functional.normalize(torch.randn(2, model.get_embedding_dimension()), dim=-1)
    loss = TeacherContrastiveLoss(model)
    with torch.no_grad():
        pair = loss([model.preprocess(TEXTS[:2]), model.preprocess(TEXTS[2:])], teacher)
        first = loss([model.preprocess(TEXTS[:2])], teacher)
        second = loss([model.preprocess(TEXTS[2:])], teacher)
    assert pair == pytest.approx(float(first + second) / 2, abs=1e-5)
