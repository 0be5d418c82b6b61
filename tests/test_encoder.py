"""PixelEncoder: presets, input validation, masking, cropping and padding invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixel_st import PixelEncoder, new_model
from pixel_st.backbone import PRESETS, strip_config
from pixel_st.encoder import strips_from_patches


def test_presets():
    assert sum(p.numel() for p in PixelEncoder.new("tiny").parameters()) < 1_000_000
    assert strip_config("small").hidden_size == 384 and strip_config("small").num_hidden_layers == 12
    base = strip_config("base")
    assert (base.hidden_size, base.num_hidden_layers, base.num_attention_heads) == (768, 12, 12)
    assert set(PRESETS) == {"tiny", "mini", "small", "base"}
    with pytest.raises(ValueError, match="Unknown preset"):
        strip_config("huge")


def test_model_has_no_tokenizer(tiny_model):
    """``model.tokenizer`` is None (sentence-transformers' property reads the first module's attribute, and
    raised an AttributeError naming SentenceTransformer when the module had none)."""
    assert tiny_model.tokenizer is None


def test_preprocess_features(tiny_model):
    features = tiny_model.preprocess(["short", "a somewhat longer sentence here"])
    patches, mask = features["pixel_values"], features["attention_mask"]
    assert patches.dtype == torch.uint8 and patches.shape == (2, mask.shape[1], 16 * 16)
    assert mask[1].all() and not mask[0].all()
    strips = strips_from_patches(patches, 16)  # one row per patch, row-major: the strip the renderer drew
    assert torch.equal(strips[1, 0], torch.from_numpy(tiny_model[0].renderer.render("a somewhat longer sentence here")))
    assert (strips[1, 0, :, -16:] == 0).all(), "the last patch of the longer strip is the black one"


def test_columns_of_different_widths_merge_into_one_forward(tiny_model):
    """sentence-transformers pads token-like features and runs a training batch's columns in one pass."""
    from sentence_transformers.base.losses.merged_forward import merge_feature_batches

    short, long = tiny_model.preprocess(["a", "b"]), tiny_model.preprocess(["a much longer sentence", "c"])
    merged = merge_feature_batches([short, long])
    assert merged is not None and merged["pixel_values"].shape[:2] == (4, long["attention_mask"].shape[1])
    with torch.no_grad():
        together = tiny_model(merged)["sentence_embedding"]
        apart = torch.cat([tiny_model(dict(short))["sentence_embedding"], tiny_model(dict(long))["sentence_embedding"]])
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=0)


def test_padding_invariance(tiny_model):
    sentence = "The cat sat on the mat."
    alone = tiny_model.encode([sentence], convert_to_tensor=True)
    batched = tiny_model.encode([sentence, "x " * 300], convert_to_tensor=True, batch_size=2)
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=0)


def test_forward_crops_pixels_wider_than_the_mask(tiny_model):
    """CachedMultipleNegativesRankingLoss trims trailing mask columns of a mini-batch but not pixel_values."""
    encoder = tiny_model[0]
    features = encoder.preprocess(["short one", "a much longer sentence than the first one is"])
    trimmed = {
        "pixel_values": features["pixel_values"][:1],
        "attention_mask": features["attention_mask"][:1, : int(features["attention_mask"][0].sum())],
    }
    alone = encoder.preprocess(["short one"])
    with torch.no_grad():
        expected = encoder(dict(alone))["token_embeddings"]
        got = encoder(trimmed)["token_embeddings"]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_empty_string_encodes_to_a_finite_vector(tiny_model):
    embedding = tiny_model.encode([""])
    assert embedding.shape == (1, 64) and torch.isfinite(torch.from_numpy(embedding)).all()


@pytest.mark.parametrize("bad", [3, None, b"bytes", ("a", "b")])
def test_non_string_input_is_a_type_error_naming_the_item(tiny_model, bad):
    with pytest.raises(TypeError, match="input 1 is"):
        tiny_model.encode(["fine", bad])


def test_max_seq_length_is_bounded_by_position_table():
    model = new_model("tiny", max_seq_length=10)
    assert model.max_seq_length == 10
    model.max_seq_length = 16  # the 4 x 4 position grid holds 16 patches
    assert model.preprocess(["x" * 500])["attention_mask"].shape[1] == 16
    with pytest.raises(ValueError, match="exceeds the backbone's 16 position embeddings"):
        model.max_seq_length = 17


def test_sentences_differ(tiny_model):
    a, b = tiny_model.encode(["A man plays guitar.", "Stocks fell sharply today."], convert_to_tensor=True)
    assert not torch.allclose(a, b)


def test_stock_compile_gives_the_same_embeddings():
    """``model.compile(dynamic=True)`` (sentence-transformers' own) over strips of several widths."""
    texts = ["A man is playing a guitar.", "Hi", "Another one bites the dust, and another one is gone."] * 6
    model = new_model("tiny", seed=0)
    expected = model.encode(texts, batch_size=4)
    model.compile(dynamic=True)
    np.testing.assert_allclose(model.encode(texts, batch_size=4), expected, atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_dynamic_int8_quantisation_keeps_the_embeddings():
    """docs/performance.md's CPU option: torch's dynamic int8 linear layers on the whole model."""
    texts = ["A man is playing a guitar.", "Hi", "Stocks fell sharply today, and bonds rose."]
    model = new_model("tiny", seed=0)
    quantised = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in quantised.modules())
    cosine = (quantised.encode(texts) * model.encode(texts)).sum(1)
    assert cosine.min() > 0.99


def test_forward_compiles_as_one_graph(tiny_model):
    """No graph breaks (``fullgraph=True`` raises on one), and no host sync: the crop is a shape."""
    compiled = torch.compile(tiny_model[0].forward, fullgraph=True, dynamic=True)
    for texts in (["Hi", "A man is playing a guitar."], ["Another one bites the dust, and another one is gone."]):
        features = tiny_model[0].preprocess(texts)
        expected = tiny_model[0](dict(features))["token_embeddings"]
        torch.testing.assert_close(compiled(dict(features))["token_embeddings"], expected, atol=1e-5, rtol=0)


def test_include_prompt_false_pools_only_the_patches_after_the_prompt(tiny_model):
    prompt, texts = "Represent this sentence for retrieval: ", ["A man is playing a guitar.", "Kurz."]
    features = tiny_model.preprocess(texts, prompt=prompt)
    skipped = features["prompt_length"]
    assert skipped == tiny_model[0].renderer.prefix_patches(prompt) >= 10
    # the skipped patches hold the prompt alone: the same pixels as the prompt drawn by itself
    alone = tiny_model.preprocess([prompt.strip()])["pixel_values"][0, :skipped]
    assert torch.equal(features["pixel_values"][:, :skipped], alone.expand(len(texts), -1, -1))

    patches = tiny_model.encode(texts, prompt=prompt, output_value="token_embeddings", convert_to_numpy=False)
    expected = torch.stack([torch.nn.functional.normalize(p[skipped:].mean(0), dim=0) for p in patches])
    pooling = tiny_model[1]
    pooling.include_prompt = False
    try:
        without_prompt = tiny_model.encode(texts, prompt=prompt, convert_to_tensor=True)
    finally:
        pooling.include_prompt = True
    torch.testing.assert_close(without_prompt, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(without_prompt, tiny_model.encode(texts, prompt=prompt, convert_to_tensor=True), atol=1e-3)


def test_prompt_patches_count_only_whole_left_to_right_patches(tiny_model):
    renderer = tiny_model[0].renderer
    assert renderer.prefix_patches("") == renderer.prefix_patches("I: ") == 0  # shares its only patch with the text
    # right-to-left, or no direction of its own: the bidi algorithm may draw it after the text
    assert renderer.prefix_patches("سؤال: ") == renderer.prefix_patches("1234567890 >>> ") == 0
    assert renderer.prefix_patches("word " * 500) == renderer.max_seq_length - 1  # the black patch stays
    assert renderer.prefix_patches("word " * 500, max_patches=10) == 9
