"""Labelling requests: what is asked, how it is keyed, and how it goes on the wire.

A request is built from the spec's templates (:mod:`robomme_mem.prompts`) and the labeller's
settings (:class:`LabelParams`). Its cache key (:func:`~robomme_mem.dataset.labels.store.cache.request_key`)
covers the model, the parameters that change an answer, the canonical messages (the image
referenced by position) and the sha256 of the image's RGB pixels as sent. The pixels, not
the PNG bytes, enter the key, so a different PNG encoder cannot change it. The API key and
the base URL never enter it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import Image

from ....png import png_data_url
from ....prompts import (
    LABEL_ACTION_SYSTEM_GROUNDED,
    LABEL_ACTION_SYSTEM_SIMPLE,
    LABEL_ACTION_USER,
    LABEL_SPATIAL_SYSTEM,
    LABEL_SPATIAL_USER,
    NO_HISTORY_YET,
    NO_PRIOR_SPATIAL,
    PromptTemplate,
    format_history,
)
from ....subgoals import STYLES
from ...checksum import image_sha256
from ..store.cache import digest_key
from .defaults import DEFAULT_SPATIAL_MAX_TOKENS, KINDS


@dataclass(frozen=True)
class LabelParams:
    """A labeller's settings that change its answers (and so its cache keys).

    ``None`` means "not sent": the endpoint's default applies. ``image_size`` downscales
    the image so that its longer side is at most that many pixels.
    """

    model: str
    temperature: float | None = 1.0
    reasoning_effort: str | None = None
    action_max_tokens: int | None = None
    spatial_max_tokens: int | None = DEFAULT_SPATIAL_MAX_TOKENS
    image_size: int | None = None

    def for_kind(self, kind: str) -> dict:
        """The sampling parameters of one request kind: what the API receives and the key covers."""
        out: dict = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.reasoning_effort is not None:
            out["reasoning_effort"] = self.reasoning_effort
        tokens = self.action_max_tokens if kind == "action" else self.spatial_max_tokens
        if tokens is not None:
            out["max_completion_tokens"] = tokens
        return out

    def key_params(self, kind: str) -> dict:
        params = self.for_kind(kind)
        if kind == "spatial" and self.image_size is not None:
            params["image_size"] = self.image_size
        return params

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class LabelRequest:
    """One labeller call: an action memory at a boundary, or one step of a spatial chain.

    ``history`` (action) holds the completed subgoals, oldest first, consecutive duplicates
    already removed; ``prior`` (spatial) is the previous spatial memory or ``None`` on an
    episode's first call frame; ``image`` is the frame as sent (already downscaled).
    """

    kind: str
    task_goal: str
    style: str | None = None
    history: tuple[str, ...] = ()
    prior: str | None = None
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    at: str | None = None
    """Where an action request stands (``Task/episode/seed@step``), for a labeller that answers
    from what happened there (``truth``); ``None`` for the others, whose keys it leaves as they were."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown request kind {self.kind!r}")
        if self.kind == "action" and self.style not in STYLES:
            raise ValueError(f"action requests need a style in {STYLES}, got {self.style!r}")
        if self.kind == "spatial" and self.image is None:
            raise ValueError("spatial requests need an image")

    @property
    def templates(self) -> tuple[PromptTemplate, PromptTemplate]:
        if self.kind == "spatial":
            return LABEL_SPATIAL_SYSTEM, LABEL_SPATIAL_USER
        system = LABEL_ACTION_SYSTEM_GROUNDED if self.style == "grounded" else LABEL_ACTION_SYSTEM_SIMPLE
        return system, LABEL_ACTION_USER

    @property
    def template_id(self) -> str:
        """``label.action.system.grounded`` etc.: the system template names the request."""
        return self.templates[0].id

    @property
    def template_version(self) -> str:
        system, user = self.templates
        return f"{system.version}+{user.version}"

    @property
    def history_text(self) -> str:
        return format_history(list(self.history)) if self.history else NO_HISTORY_YET

    @cached_property
    def system(self) -> str:
        return self.templates[0].render()

    @cached_property
    def user(self) -> str:
        if self.kind == "action":
            return LABEL_ACTION_USER.render(task_goal=self.task_goal, history=self.history_text)
        return LABEL_SPATIAL_USER.render(
            task_goal=self.task_goal, prior_spatial=self.prior if self.prior is not None else NO_PRIOR_SPATIAL
        )

    def canonical_messages(self) -> list[dict]:
        """The messages as keyed: text verbatim, the image as a reference to ``images[0]``."""
        if self.kind == "action":
            user: str | list = self.user
        else:
            user = [{"type": "text", "text": self.user}, {"type": "image", "index": 0}]
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    @cached_property
    def image_sha256(self) -> str | None:
        """The image's identity in the key: sha256 of its shape and RGB bytes (no copy made)."""
        return None if self.image is None else image_sha256(self.image)

    def key(self, params: LabelParams) -> str:
        digests = [self.image_sha256] if self.image is not None else []
        key_params = (
            params.key_params(self.kind) if self.at is None else {**params.key_params(self.kind), "at": self.at}
        )
        return digest_key(params.model, key_params, self.canonical_messages(), digests)

    def wire_messages(self) -> list[dict]:
        """Chat-completions messages as sent: the image inlined as a PNG data URL."""
        if self.kind == "action":
            return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]
        url = png_data_url(self.image)
        return [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": [{"type": "text", "text": self.user}, {"type": "image_url", "image_url": {"url": url}}],
            },
        ]

    def validation_context(self) -> str:
        """What an answer may take coordinates from: the history (grounded action memory)."""
        return self.history_text


def downscale(image: np.ndarray, size: int | None) -> np.ndarray:
    """The frame as the labeller sees it: longer side at most ``size`` pixels (Pillow, Lanczos)."""
    if size is None or max(image.shape[:2]) <= size:
        return image
    h, w = image.shape[:2]
    scale = size / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(shape, Image.Resampling.LANCZOS))


def action_request(task_goal: str, history: tuple[str, ...], style: str, at: str | None = None) -> LabelRequest:
    return LabelRequest("action", task_goal, style=style, history=tuple(history), at=at)


def location(task: str, episode: int, seed: int | None, step: int) -> str:
    """An action request's place in a source: ``Task/episode/seed@step`` (the boundary's step)."""
    return f"{task}/{episode}/{seed}@{step}"


def parse_location(at: str) -> tuple[str, int, int | None, int]:
    where, _, step = at.rpartition("@")
    task, episode, seed = where.split("/")
    return task, int(episode), None if seed == "None" else int(seed), int(step)


def spatial_request(
    task_goal: str, prior: str | None, image: np.ndarray, image_size: int | None = None
) -> LabelRequest:
    return LabelRequest("spatial", task_goal, prior=prior, image=downscale(image, image_size))
