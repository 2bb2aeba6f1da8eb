"""Text encoders: the shipped open_clip tower and tiny Hugging Face T5 / RoBERTa saved locally."""
from __future__ import annotations

import pytest
import torch

from samprompt.errors import CheckpointNotFoundError, PromptError, UnknownNameError
from samprompt.text import HuggingFaceTextEncoder, OpenClipTextEncoder, load_text_encoder

WORDS = ["the", "red", "blue", "circle", "square", "on", "left", "a", "very", "small", "star"]


def save_tiny_hf_encoder(directory, kind: str) -> None:
    """A random-init tiny T5 / RoBERTa encoder and a word-level tokenizer, in save_pretrained layout."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel, T5Config, T5EncoderModel

    vocab = {"<unk>": 0, "<pad>": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>").save_pretrained(directory)
    torch.manual_seed(0)
    if kind == "t5":
        model = T5EncoderModel(T5Config(vocab_size=len(vocab), d_model=32, d_ff=64, d_kv=16, num_layers=2,
                                        num_heads=2, pad_token_id=1))
    else:
        model = RobertaModel(RobertaConfig(vocab_size=len(vocab), hidden_size=24, num_hidden_layers=2,
                                           num_attention_heads=2, intermediate_size=48, max_position_embeddings=40,
                                           pad_token_id=1))
    model.save_pretrained(directory)


@pytest.fixture(params=["t5", "roberta"])
def hf_encoder(request, tmp_path) -> HuggingFaceTextEncoder:
    save_tiny_hf_encoder(tmp_path / request.param, request.param)
    return load_text_encoder(f"hf:{tmp_path / request.param}")


def test_hugging_face_encoder_shapes_padding_and_freezing(hf_encoder):
    features = hf_encoder(["the red circle", "a very small blue star on the left"])
    assert features.tokens.shape[:2] == features.padding_mask.shape
    assert features.tokens.shape[2] == hf_encoder.dim == features.sentence.shape[1]
    assert features.padding_mask[0].sum() == features.tokens.shape[1] - 3
    assert not features.padding_mask[1].any()
    assert not any(p.requires_grad for p in hf_encoder.parameters())
    hf_encoder.train()
    assert not hf_encoder.training


def test_hugging_face_sentence_does_not_depend_on_batch_padding(hf_encoder):
    alone = hf_encoder(["the red circle"])
    batched = hf_encoder(["the red circle", "a very small blue star on the left"])
    torch.testing.assert_close(alone.sentence[0], batched.sentence[0], atol=1e-5, rtol=1e-5)


def test_open_clip_tower_matches_encode_text():
    encoder = load_text_encoder("shapes")
    assert isinstance(encoder, OpenClipTextEncoder)
    features = encoder(["the red circle", "the star on the left"])
    tokens = encoder.tokenizer(["the red circle"])
    expected = encoder.clip.encode_text(tokens)
    torch.testing.assert_close(features.sentence[:1], expected)
    # <start> the red circle <end> are real, the rest is padding
    assert features.padding_mask[0].tolist() == [False] * 5 + [True] * (tokens.shape[1] - 5)
    assert features.tokens.shape == (2, tokens.shape[1], encoder.dim)


def test_empty_text_and_missing_directory_are_refused(tmp_path):
    encoder = load_text_encoder("shapes")
    with pytest.raises(PromptError, match="empty"):
        encoder(["the circle", "  "])
    with pytest.raises(PromptError, match="no text"):
        encoder([])
    for bad in (None, 5, {"text": "x"}):
        with pytest.raises(PromptError, match="text must be a string or a list of strings"):
            encoder(bad)
    with pytest.raises(CheckpointNotFoundError, match="config.json"):
        HuggingFaceTextEncoder(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="nowhere.*does not exist"):
        load_text_encoder(str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_text_encoder(f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(UnknownNameError, match="unknown text encoder 'bert:base'"):
        load_text_encoder("bert:base")


def test_a_text_longer_than_the_context_is_cut_with_one_warning():
    import warnings

    from samprompt.text.encoders import TextTruncatedWarning

    encoder = OpenClipTextEncoder.load("shapes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder(["a red circle"])
        assert not caught
        long = encoder(["the red circle " * 20, "a star"])
        encoder(["the red circle " * 20])
    assert [w.category for w in caught] == [TextTruncatedWarning]
    assert "longer than the 16 tokens" in str(caught[0].message) and long.tokens.shape[1] == 16
