"""Text and clicks in one prompt: RefSAM's tokens and SAM's click tokens, composed and trained together.

`RefSAMWithClicks` is a RefSAM whose generator is `CombinedPrompts(RefSAM's text prompt,
NativePrompts())`. It is trained with parts dropped at random and corrective clicks over
interactive rounds (`TextClickTask`), so that the one model serves text alone, clicks alone,
both, and text followed by clicks: `model(images, text=...)`,
`model(images, points=..., labels=...)`, or all of them, with `parts=` for rows of different
kinds in one batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import MaskPrediction
from samprompt.data.mask_prompts import error_click, random_click
from samprompt.errors import ConfigError
from samprompt.interactive.session import InteractiveSession
from samprompt.metrics import ReferringScores
from samprompt.model import PromptedSam
from samprompt.prompts.combine import CombinedPrompts
from samprompt.prompts.native import NativePrompts
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.model import RefSAM
from samprompt.refsam.prompt import RefSAMPrompt
from samprompt.refsam.task import RefSAMTask
from samprompt.text.encoders import TextEncoder
from samprompt.training.task import Step

TEXT, CLICK = 0, 1
KINDS = {"text": (True, False), "click": (False, True), "text+click": (True, True)}


class RefSAMWithClicks(RefSAM):
    """RefSAM's text prompt and SAM's own clicks / boxes on one core: `model(images, text=..., points=...)`.

    The text part is exactly RefSAM's (`text_prompt`); the click part is SAM's prompt encoder.
    A row with only text equals RefSAM on that text, a row with only clicks equals SAM on them
    (with the core's adapters), whatever else the batch holds.
    """

    generator: CombinedPrompts  # type: ignore[assignment]

    def __init__(self, core: SamCore, text_encoder: TextEncoder, config: RefSAMConfig = RefSAMConfig(),
                 *, text_encoder_spec: str | None = None) -> None:
        if config.tracking:
            raise ConfigError("RefSAMWithClicks segments images: give a RefSAMConfig with tracking=False")
        super().__init__(core, text_encoder, config, text_encoder_spec=text_encoder_spec)
        self.generator = CombinedPrompts(self.generator, NativePrompts())

    @property
    def text_prompt(self) -> RefSAMPrompt:
        return self.generator.generators[TEXT]

    def next_track(self, prediction: MaskPrediction, previous: Tensor | None = None) -> Tensor:
        raise ConfigError("RefSAMWithClicks has no tracking module")


def click_inputs(clicks: Sequence[Sequence[tuple[float, float, int]]]) -> dict[str, Tensor]:
    """Rows of (x, y, label) clicks, ragged -> `points` P x N x 2, `labels` P x N and `point_padding`
    (True where a row has fewer than N clicks); {} when no row has a click."""
    longest = max((len(row) for row in clicks), default=0)
    if not longest:
        return {}
    points = torch.zeros(len(clicks), longest, 2)
    labels = torch.full((len(clicks), longest), -1, dtype=torch.int)
    padding = torch.ones(len(clicks), longest, dtype=torch.bool)
    for r, row in enumerate(clicks):
        for k, (x, y, label) in enumerate(row):
            points[r, k] = torch.tensor([x, y])
            labels[r, k] = label
            padding[r, k] = False
    return {"points": points, "labels": labels, "point_padding": padding}


def row_parts(kinds: Sequence[str], device: torch.device | str = "cpu") -> Tensor:
    """Kind names ("text", "click", "text+click") -> P x 2 `parts` (text, click) for `CombinedPrompts`."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"row kinds must be among {sorted(KINDS)}, got {unknown}")
    return torch.tensor([KINDS[kind] for kind in kinds], dtype=torch.bool, device=device)


@dataclass
class TextClickBatch:
    """images / masks / ids per item, texts: B expressions, clicks: B x 1 x 2 (x, y) inside the masks."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    ids: list[str]
    texts: list[str]
    clicks: Tensor


@dataclass
class TextClickTask(RefSAMTask):
    """Referring items prompted by text, clicks or both, over interactive rounds (SAM's recipe).

    Round 0 gives each row its text, one click inside the object, or both (a row starts without
    its text with probability `text_drop`, without its click with probability `click_drop`,
    never without both). On a share `1 - single_prompt_share` of the steps, later rounds follow
    SAM's recipe: each adds a click drawn from the previous prediction's error region (positive
    where the object was missed, negative where the mask spilled over) and feeds the previous
    low-res logits back as SAM's mask input; a row keeps its text, if it had one, in every round.
    So one model learns text alone, clicks alone, and text followed by corrective clicks. Each
    round adds RefSAM's loss (focal + dice); the logits fed back are detached, as in SAM.

    Attributes:
        text_drop / click_drop: the probabilities that a row starts without its text / its click.
        iterations: rounds per object on interactive steps.
        single_prompt_share: the share of steps with one round only (one prompt per row).
        wrong_text: the probability that a row with both its text and its click gets another
            row's expression instead (the target stays the clicked object), so that the model
            learns to follow the click where a text points elsewhere.
    """

    frames: int = 1
    text_drop: float = 0.2
    click_drop: float = 0.4
    iterations: int = 4
    single_prompt_share: float = 0.5
    wrong_text: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.text_drop < 0 or self.click_drop < 0 or self.text_drop + self.click_drop > 1:
            raise ConfigError(f"text_drop and click_drop must be >= 0 with a sum <= 1, got {self.text_drop} and "
                              f"{self.click_drop}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if not 0.0 <= self.single_prompt_share <= 1.0:
            raise ConfigError(f"single_prompt_share must be in [0, 1], got {self.single_prompt_share}")
        if not 0.0 <= self.wrong_text <= 1.0:
            raise ConfigError(f"wrong_text must be in [0, 1], got {self.wrong_text}")

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return {**item, "click": random_click(item["mask"], rng)}

    def collate(self, samples: list[dict[str, Any]]) -> TextClickBatch:
        return TextClickBatch([s["image"] for s in samples], [s["mask"] for s in samples],
                              [f"{s['id']}@0" for s in samples], [s["text"] for s in samples],
                              torch.as_tensor(np.stack([s["click"] for s in samples]))[:, None])

    def draw_parts(self, rows: int, generator: torch.Generator) -> Tensor:
        """P x 2 (text, click) booleans: a row drops its text with probability `text_drop`, else its
        click with probability `click_drop`."""
        u = torch.rand(rows, generator=generator)
        text_dropped = u < self.text_drop
        click_dropped = (u >= self.text_drop) & (u < self.text_drop + self.click_drop)
        return torch.stack([~text_dropped, ~click_dropped], dim=1)

    def training_texts(self, texts: Sequence[str], parts: Tensor, generator: torch.Generator) -> list[str]:
        """The expressions the rows train with: a row with text and click takes the next row's
        (another object's) expression with probability `wrong_text`."""
        swap = (torch.rand(len(texts), generator=generator) < self.wrong_text) & parts[:, TEXT] & parts[:, CLICK]
        return [texts[(row + 1) % len(texts)] if bool(swap[row]) else text for row, text in enumerate(texts)]

    def batch_loss(self, step: Step, batch: TextClickBatch) -> Tensor:
        rows = len(batch.texts)
        features = self.encode(step.model.core, batch.images, batch.ids)
        start = self.draw_parts(rows, step.generator)
        texts = self.training_texts(batch.texts, start, step.generator) if self.wrong_text else batch.texts
        rng = np.random.default_rng(step.integers(0, 2 ** 31 - 1))
        clicks: list[list[tuple[float, float, int]]] = [[(x, y, 1)] if start[row, CLICK] else []
                                                        for row, (x, y) in enumerate(batch.clicks[:, 0].tolist())]
        single = float(torch.rand((), generator=step.generator)) < self.single_prompt_share
        rounds = 1 if single else self.iterations
        masks_in: Tensor | None = None
        predicted: list[np.ndarray] = []
        total = torch.zeros(())
        for round_index in range(rounds):
            if round_index > 0:
                for row in range(rows):
                    click = error_click(batch.masks[row], predicted[row], rng)
                    if click is not None:
                        clicks[row].append(click)
            inputs = click_inputs(clicks)
            if masks_in is not None and "points" in inputs:
                inputs["masks"] = masks_in
            has_click = torch.tensor([bool(row) for row in clicks])
            parts = torch.stack([start[:, TEXT] | ~has_click, has_click], dim=1)  # a row without clicks keeps text
            prediction = step.forward(features=features, text=texts, parts=parts, **inputs)
            total = total + self.mask_loss(prediction.logits, batch.masks)
            masks_in = prediction.low_res_logits[:, :1].detach()
            predicted = [(logits[0] > 0).cpu().numpy() for logits in prediction.logits]
        return total / rounds

    @torch.no_grad()
    def evaluate_kinds(self, model: RefSAMWithClicks, items: Sequence[dict[str, Any]], seed: int = 0,
                       batch_size: int = 16) -> dict[str, dict[str, float]]:
        """mIoU / oIoU / prec@X of text alone, the click alone and both, on the same items and the
        same click per item (drawn with `seed`): one encoder pass per image, the three kinds of
        rows of a chunk in one decoder call."""
        model.eval()
        clicks = evaluation_clicks(items, seed)
        scores = {kind: ReferringScores() for kind in KINDS}
        for start in range(0, len(items), batch_size):
            chunk, chunk_clicks = items[start:start + batch_size], clicks[start:start + batch_size]
            features = self.encode(model.core, [item["image"] for item in chunk], [f"{item['id']}@0" for item in chunk])
            kinds = [kind for kind in KINDS for _ in chunk]
            index = torch.arange(len(chunk)).repeat(len(KINDS))
            prediction = model(features=features, text=[item["text"] for item in chunk] * len(KINDS),
                               points=torch.as_tensor(np.stack(chunk_clicks))[:, None].repeat(len(KINDS), 1, 1),
                               labels=torch.ones(len(kinds), 1, dtype=torch.int), batch_index=index,
                               parts=row_parts(kinds))
            for row, (kind, masks) in enumerate(zip(kinds, prediction.masks)):
                scores[kind].add(masks[0], chunk[row % len(chunk)]["mask"])
        return {kind: score.summary() for kind, score in scores.items()}

    @torch.no_grad()
    def evaluate_sam_click(self, clicks_model: PromptedSam, items: Sequence[dict[str, Any]], seed: int = 0,
                           chooser: RefSAMWithClicks | None = None) -> dict[str, float]:
        """mIoU / oIoU / prec@X of one click through `clicks_model` (e.g. SAM alone), the same click
        per item as `evaluate_kinds` with the same `seed`, on the encodings it cached. The mask is
        SAM's own choice among its three for that click or, given a `chooser`, the one its text
        mask chooses (`start_role="choice"` of a session)."""
        clicks_model.eval()
        if chooser is not None:
            chooser.eval()
        scores = ReferringScores()
        for item, (x, y) in zip(items, evaluation_clicks(items, seed)):
            features = self.encode(clicks_model.core, [item["image"]], [f"{item['id']}@0"])
            start = {} if chooser is None else {"start_with": chooser, "start_inputs": {"text": [item["text"]]},
                                                "start_role": "choice"}
            session = InteractiveSession(clicks_model, item["image"], features=features, **start)
            scores.add(session.click(x, y), item["mask"])
        return scores.summary()


def evaluation_clicks(items: Sequence[dict[str, Any]], seed: int) -> list[np.ndarray]:
    """One click per item, drawn uniformly inside its mask with `seed`: the click every kind of
    prompt is scored with."""
    rng = np.random.default_rng(seed)
    return [random_click(item["mask"], rng) for item in items]
