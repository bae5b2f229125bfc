"""The high-level policy at rollout time: memory state, prompts, a backend, lenient parsing.

The runtime builds its prompts with the same functions as the builder's rows
(:func:`robomme_mem.prompts.policy_user_prompt`) and starts from the same initial memory
strings, so a trained adapter sees at rollout exactly what it saw in training. Model output
is parsed leniently and never raises: every fallback taken is counted, so a report can say
how often the model broke the format.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..mp4 import encode_mp4
from ..png import png_data_url
from ..prompts import (
    INITIAL_MEMORY,
    INITIAL_SPATIAL,
    MEMORY_TAG,
    POLICY_SYSTEM,
    SPATIAL_TAG,
    VARIANTS,
    policy_user_prompt,
)

MAX_NEW_TOKENS = {"simple": 128, "grounded": 128, "dual_simple": 384, "dual_grounded": 384}
"""Greedy decoding budgets of the report's rollouts."""

_MEM = re.compile(rf"{MEMORY_TAG.open}(.*?)(?:{MEMORY_TAG.close}|(?={SPATIAL_TAG.open})|$)", re.DOTALL)
_SPATIAL = re.compile(rf"{SPATIAL_TAG.open}(.*?)(?:{SPATIAL_TAG.close}|$)", re.DOTALL)

# the fallbacks a parse can take, counted per policy
EMPTY = "empty output"
NO_MEMORY = f"no {MEMORY_TAG.open}: kept the previous memory"
UNCLOSED_MEMORY = f"{MEMORY_TAG.open} not closed"
NO_SPATIAL = f"no {SPATIAL_TAG.open}: kept the previous spatial memory"
UNCLOSED_SPATIAL = f"{SPATIAL_TAG.open} not closed"
NO_SUBGOAL = "no subgoal line: kept the previous subgoal"
EXTRA_TEXT = "text after the memories ignored"


@dataclass(frozen=True)
class Parsed:
    subgoal: str
    memory: str
    spatial: str | None
    fallbacks: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.fallbacks


def parse_answer(
    text: str | None,
    *,
    dual: bool,
    previous_subgoal: str = "",
    previous_memory: str = INITIAL_MEMORY,
    previous_spatial: str | None = INITIAL_SPATIAL,
) -> Parsed:
    """Subgoal, action memory and (dual) spatial memory of one completion; never raises.

    - empty output: everything previous is kept;
    - no ``<mem>``: the whole text is the subgoal, the previous memory is kept;
    - ``<mem>`` without ``</mem>`` (common when coordinates like ``<63, 136>`` sit inside it):
      the memory runs to ``<spatial_mem>`` or the end;
    - ``<spatial_mem>`` without its closing tag: it runs to the end;
    - blank lines and text after the last closing tag are ignored.
    """
    fallbacks: list[str] = []
    text = (text or "").strip()
    if not text:
        return Parsed(previous_subgoal, previous_memory, previous_spatial if dual else None, (EMPTY,))
    first_tag = min((i for i in (text.find(MEMORY_TAG.open), text.find(SPATIAL_TAG.open)) if i >= 0), default=len(text))
    subgoal = " ".join(line.strip() for line in text[:first_tag].splitlines() if line.strip())
    if not subgoal:
        subgoal = previous_subgoal
        fallbacks.append(NO_SUBGOAL)
    memory, found = _block(text, _MEM, MEMORY_TAG.close, previous_memory, NO_MEMORY, UNCLOSED_MEMORY, fallbacks)
    spatial = found_spatial = None
    if dual:
        spatial, found_spatial = _block(
            text, _SPATIAL, SPATIAL_TAG.close, previous_spatial, NO_SPATIAL, UNCLOSED_SPATIAL, fallbacks
        )
    ends = [m.end() for m in (found, found_spatial) if m is not None]
    if ends and text[max(ends) :].strip():
        fallbacks.append(EXTRA_TEXT)
    return Parsed(subgoal, memory, spatial, tuple(fallbacks))


def _block(text: str, pattern: re.Pattern, closing: str, previous, missing: str, unclosed: str, fallbacks: list[str]):
    """(content, match) of one tagged block; the previous value (and a counted fallback) when absent."""
    found = pattern.search(text)
    if found is None:
        fallbacks.append(missing)
        return previous, None
    if closing not in text[found.start() :]:
        fallbacks.append(unclosed)
    return found.group(1).strip(), found


# -- backends -----------------------------------------------------------------------------

Backend = Callable[..., str]
"""``backend(messages, image, max_new_tokens, video=None) -> completion text`` (greedy); ``video``
(mp4 bytes) only on a video task's first call, whose prompt carries ``<video>``."""


class ReplayBackend:
    """Answers from a split's targets, in order: for testing the loop and the scorers.

    ``repeat_last`` keeps answering the last target once they run out (a rollout makes as
    many calls as its episode lasts); otherwise running out is an error.
    """

    def __init__(self, targets: Sequence[str], repeat_last: bool = False) -> None:
        self._targets: Iterator[str] = iter(targets)
        self._repeat_last = repeat_last
        self._last: str | None = None

    def __call__(self, messages: list[dict], image, max_new_tokens: int, video: bytes | None = None) -> str:
        try:
            self._last = next(self._targets)
        except StopIteration:
            if not (self._repeat_last and self._last is not None):
                raise RuntimeError("the replay backend ran out of answers") from None
        return self._last


class OpenAIBackend:
    """Any OpenAI-compatible server (``swift deploy``, vLLM) serving the base model plus adapter."""

    def __init__(self, model: str, base_url: str, api_key: str = "unused", timeout_s: float = 120.0) -> None:
        from openai import OpenAI

        self.model = model
        self._client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s)

    def __call__(self, messages: list[dict], image, max_new_tokens: int, video: bytes | None = None) -> str:
        response = self._client.chat.completions.create(
            model=self.model, messages=_with_image(messages, image, video), temperature=0.0, max_tokens=max_new_tokens
        )
        return response.choices[0].message.content or ""


class SwiftBackend:
    """ms-swift's local inference engine: a base model plus a LoRA adapter (needs ``[train]``)."""

    def __init__(self, model: str, adapter: str | None = None, model_type: str = "qwen3_vl") -> None:
        from swift.infer_engine import TransformersEngine

        self._engine = TransformersEngine(model, model_type=model_type, adapters=[adapter] if adapter else None)

    def __call__(self, messages: list[dict], image, max_new_tokens: int, video: bytes | None = None) -> str:
        from PIL import Image
        from swift.infer_engine import InferRequest, RequestConfig

        images = [Image.fromarray(image)] if image is not None else []
        videos = [_data_url(video)] if video is not None else []
        request = InferRequest(messages=messages, images=images, videos=videos)
        response = self._engine.infer([request], RequestConfig(max_tokens=max_new_tokens, temperature=0))[0]
        return response.choices[0].message.content or ""


def endpoint_problem(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Why a high-level endpoint cannot be used (None: it answers), from one ``GET /models`` with no retries."""
    import openai

    from ..endpoints import endpoint_cause

    try:
        openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=timeout_s).models.list()
    except openai.NotFoundError:
        return None  # some servers have no /models route
    except openai.OpenAIError as exc:
        return f"high-level endpoint {base_url}: {endpoint_cause(exc, probing=True, timeout_s=timeout_s)}"
    return None


def backend_problem(
    kind: str, *, model: str | None = None, base_url: str | None = None, targets: Sequence[str] | None = None
) -> str | None:
    """Why :func:`make_backend` cannot make this backend from these arguments (None: it can)."""
    if kind == "replay":
        return None if targets is not None else "the replay backend needs its answers"
    if kind == "openai":
        return None if model and base_url else "the openai backend needs a model name and a base URL"
    if kind == "swift":
        return None if model else "the swift backend needs a base model (and usually an adapter)"
    return f"unknown backend {kind!r}; one of replay, openai, swift"


def make_backend(
    kind: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    adapter: str | None = None,
    targets: Sequence[str] | None = None,
    repeat_last: bool = False,
) -> Backend:
    """The backend a command line names: ``replay`` (needs ``targets``), ``openai`` or ``swift``."""
    if problem := backend_problem(kind, model=model, base_url=base_url, targets=targets):
        raise ValueError(problem)
    if kind == "replay":
        return ReplayBackend(targets, repeat_last=repeat_last)
    if kind == "openai":
        return OpenAIBackend(model, base_url)
    return SwiftBackend(model, adapter)


BACKENDS = ("replay", "openai", "swift")


def _data_url(video: bytes) -> str:
    return "data:video/mp4;base64," + base64.b64encode(video).decode("ascii")


def _with_image(messages: list[dict], image, video: bytes | None = None) -> list[dict]:
    """OpenAI form: the ``<image>`` placeholder of the user turn becomes an image part, and a
    ``<video>`` one a ``video_url`` part with the mp4 as a data URL (as vLLM and ``swift deploy``
    take Qwen-VL's videos)."""
    if image is None and video is None:
        return messages
    marks = {}
    if image is not None:
        marks["<image>"] = {"type": "image_url", "image_url": {"url": png_data_url(np.asarray(image, dtype=np.uint8))}}
    if video is not None:
        marks["<video>"] = {"type": "video_url", "video_url": {"url": _data_url(video)}}
    split = re.compile("(" + "|".join(map(re.escape, marks)) + ")")
    out = []
    for message in messages:
        if message["role"] != "user" or not split.search(message["content"]):
            out.append(message)
            continue
        parts = [
            marks[piece] if piece in marks else {"type": "text", "text": piece}
            for piece in split.split(message["content"])
            if piece
        ]
        out.append({"role": "user", "content": parts})
    return out


# -- the policy ---------------------------------------------------------------------------


@dataclass
class HighLevelPolicy:
    """One episode's high-level policy: call :meth:`reset`, then :meth:`step` at every call frame."""

    variant: str
    backend: Backend
    with_history: bool = False
    """The ``*_history`` ablation: the prompt also lists the earlier subgoals."""
    fallbacks: Counter = field(default_factory=Counter)
    calls: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; one of {', '.join(VARIANTS)}")
        self.dual = self.variant.startswith("dual")
        self.reset("")

    def reset(self, goal: str, video: Sequence[np.ndarray] | None = None) -> None:
        """A new episode; ``video``: a video task's demonstration frames, shown to the first call as an
        mp4 (the same encoder as the builder's rows), after which the memory carries what it showed."""
        self.goal = goal
        self.video = encode_mp4(video) if video is not None and len(video) else None
        self.subgoal = ""
        self.memory = INITIAL_MEMORY
        self.spatial = INITIAL_SPATIAL if self.dual else None
        self.history: list[str] = []

    def messages(self) -> list[dict]:
        """The prompt of the next call, from the current state."""
        user = policy_user_prompt(
            self.variant,
            self.goal,
            self.memory,
            self.spatial,
            self.history if self.with_history else None,
            video=self.video is not None,
        )
        return [{"role": "system", "content": POLICY_SYSTEM[self.variant].render()}, {"role": "user", "content": user}]

    def step(self, image) -> Parsed:
        """Ask the backend for the next subgoal and memories; update the state."""
        text = self.backend(
            self.messages(),
            image,
            MAX_NEW_TOKENS[self.variant],
            **({"video": self.video} if self.video is not None else {}),
        )
        self.video = None  # the first call saw it; the memory carries it from here
        parsed = parse_answer(
            text,
            dual=self.dual,
            previous_subgoal=self.subgoal,
            previous_memory=self.memory,
            previous_spatial=self.spatial,
        )
        self.calls += 1
        self.fallbacks.update(parsed.fallbacks)
        if not self.history or self.history[-1] != parsed.subgoal:
            self.history.append(parsed.subgoal)
        self.subgoal, self.memory, self.spatial = parsed.subgoal, parsed.memory, parsed.spatial
        return parsed
