"""RefSAM's prompt path as an ONNX graph (`samprompt.export`): text features to masks, rows dynamic.

The graph runs the model's own modules on one image: `RefSAMPrompt` (the Cross-Modal MLP,
(hierarchical) dense attention over the encoder levels `encoder.onnx` returns, the track slot),
then the core's mask decoder, and with tracking the Implicit Tracking Module for the next
frame's track token. `RefSAMWithClicks` adds SAM's clicks and the per-row `parts` switch
(text, clicks) of `CombinedPrompts`. What stays outside: the text encoder (the expressions'
`TextFeatures` are computed once, `text_inputs` / `export_onnx(..., text=[...])`, and passed in).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from samprompt.core.structures import Prompts
from samprompt.export.graphs import OnnxGraph, describe_maps, encoder_outputs, image_inputs, square_features
from samprompt.refsam.prompt import RefSAMPrompt
from samprompt.text.encoders import TextFeatures


def text_prompt(model: nn.Module) -> RefSAMPrompt:
    """The RefSAM text part of a RefSAM or RefSAMWithClicks model."""
    return model.text_prompt if hasattr(model, "text_prompt") else model.generator


def encoder_levels(model: nn.Module) -> tuple[int, ...]:
    """The encoder blocks the text part's HDA reads (none for DA or sentence-only dense prompts)."""
    prompt = text_prompt(model)
    return prompt.hda_blocks if prompt.config.dense == "hda" else ()


def text_inputs(model: nn.Module, expressions: Sequence[str]) -> dict[str, Tensor]:
    """The text graph's `sentence`, `tokens` and `token_padding` for `expressions` (the frozen
    text encoder's output)."""
    features = text_prompt(model).encode_text(list(expressions))
    return {"sentence": features.sentence, "tokens": features.tokens, "token_padding": features.padding_mask}


class TextPromptGraph(nn.Module):
    """`(image side: image_embeddings[, high_res_0, high_res_1], level_<b>...; sentence, tokens,
    token_padding[, track, has_track][, point_coords, point_labels, parts])` ->
    `(low_res_masks, iou_predictions[, next_track])`."""

    def __init__(self, model: nn.Module, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.levels = encoder_levels(model)
        self.tracking = text_prompt(model).tracker is not None
        self.clicks = hasattr(model, "text_prompt")

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        named = dict(zip(self.input_names, inputs))
        core = self.model.core
        features = square_features(core, named, self.levels)
        text = TextFeatures(named["tokens"], named["token_padding"], named["sentence"])
        rows = torch.zeros_like(named["sentence"][:, 0], dtype=torch.long)
        if self.clicks:
            prompts = self.model.generator(core, features, text=text, batch_index=rows, points=named["point_coords"],
                                           labels=named["point_labels"], parts=named["parts"])
        elif self.tracking:
            has_track = named["has_track"].reshape(-1, 1, 1).to(named["track"].dtype)
            prompts = self.model.generator(core, features, text=text, batch_index=rows,
                                           track=named["track"] * has_track)
            # the slot is padding (masked out of attention) where a row has no track yet, as in PyTorch
            padding = torch.cat([prompts.padding_mask[:, :-1], has_track.reshape(-1, 1) < 0.5], dim=1)
            prompts = Prompts(prompts.sparse, prompts.dense, padding, prompts.batch_index)
        else:
            prompts = self.model.generator(core, features, text=text, batch_index=rows)
        prediction = core.decode(features, prompts, multimask_output=self.model.multimask_output, upscale=False)
        outputs = (prediction.low_res_logits, prediction.iou_predictions)
        if not self.tracking:
            return outputs
        first = self.model.generator.next_track(prediction.mask_tokens)
        later = self.model.generator.next_track(prediction.mask_tokens, named["track"])
        return (*outputs, torch.where(has_track > 0.5, later, first))


def example_inputs(model: nn.Module, rows: int, tokens: int, clicks: int, seed: int,
                   maps: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Graph inputs by name: random features (shaped as `maps`, the encoder's outputs, when
    given), `rows` rows of `tokens` text tokens (some padding) and, for RefSAMWithClicks, `clicks`
    clicks per row and every kind of row."""
    core, prompt = model.core, text_prompt(model)
    generator = torch.Generator().manual_seed(seed)
    c, d = core.prompt_dim, prompt.text_encoder.dim
    padding = torch.zeros(rows, tokens, dtype=torch.bool)
    padding[0, -2:] = True
    inputs = {**image_inputs(core, encoder_levels(model), seed, maps)[0],
              "sentence": torch.randn(rows, d, generator=generator),
              "tokens": torch.randn(rows, tokens, d, generator=generator), "token_padding": padding}
    kinds = torch.arange(rows) % 3
    if hasattr(model, "text_prompt"):
        labels = torch.randint(0, 2, (rows, clicks), generator=generator)
        labels[:, -1] = -1
        inputs.update({"point_coords": torch.rand(rows, clicks, 2, generator=generator) * core.image_size,
                       "point_labels": labels, "parts": torch.stack([kinds != 1, kinds != 2], dim=1)})
    elif prompt.tracker is not None:
        inputs.update({"track": torch.randn(rows, 1, c, generator=generator), "has_track": (kinds > 0).float()})
    return inputs


def text_prompt_graph(model: nn.Module) -> OnnxGraph:
    """A RefSAM (or RefSAMWithClicks) model's text prompt path as an `OnnxGraph` (rows, tokens and
    clicks per row dynamic)."""
    core = model.core
    prompt = text_prompt(model)
    c, d = core.prompt_dim, prompt.text_encoder.dim
    maps = encoder_outputs(core, encoder_levels(model))          # one encoder pass gives every shape
    inputs = example_inputs(model, rows=3, tokens=5, clicks=2, seed=0, maps=maps)
    masks = core.num_mask_tokens - 1 if model.multimask_output else 1
    mh, mw = core.mask_input_size
    descriptions = {
        **describe_maps(maps, "1"),
        "sentence": f"P x {d}: the sentence feature of each expression (TextFeatures.sentence of "
                    "model.generator.encode_text(expressions))",
        "tokens": f"P x L x {d}: the word-token features (TextFeatures.tokens)",
        "token_padding": "P x L bool: True where a token is padding (TextFeatures.padding_mask)",
        "low_res_masks": f"P x {masks} x {mh} x {mw} mask logits in the padded input frame at 1/4 scale",
        "iou_predictions": f"P x {masks} predicted mask IoU"}
    dynamic = {"sentence": {0: "rows"}, "tokens": {0: "rows", 1: "tokens"}, "token_padding": {0: "rows", 1: "tokens"},
               "low_res_masks": {0: "rows"}, "iou_predictions": {0: "rows"}}
    outputs = ["low_res_masks", "iou_predictions"]
    if "parts" in inputs:
        descriptions.update({
            "point_coords": f"P x N x 2 (x, y) clicks in the encoder's {core.image_size} px input frame",
            "point_labels": "P x N int64: 1 foreground, 0 background, -1 SAM's 'not a point'",
            "parts": "P x 2 bool: whether each row uses its text, its clicks (at least one of them)"})
        dynamic.update({"point_coords": {0: "rows", 1: "clicks"}, "point_labels": {0: "rows", 1: "clicks"},
                        "parts": {0: "rows"}})
    elif "track" in inputs:
        descriptions.update({
            "track": f"P x 1 x {c}: the previous frame's next_track output (anything on a first frame)",
            "has_track": "P float: 1 where the row's track is used, 0 on a video's first frame",
            "next_track": f"P x 1 x {c}: the track token for the next frame"})
        dynamic.update({"track": {0: "rows"}, "has_track": {0: "rows"}, "next_track": {0: "rows"}})
        outputs.append("next_track")
    names = list(inputs)
    other = example_inputs(model, rows=5, tokens=8, clicks=3, seed=1, maps=maps)
    return OnnxGraph(TextPromptGraph(model, names).eval(), tuple(inputs.values()), names, outputs, dynamic,
                     descriptions, other_inputs=tuple(other[n] for n in names))
