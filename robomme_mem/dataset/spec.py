"""Versioned build specs: the settings that decide a release's rows, in ``builders/*.toml``.

A spec names its version (``robomme-mem-2.1.0``) and pins everything that changes rows:
tasks, strides, configs, split seed and fraction, the label set, the baseline's noise seed
and keyframe duplication, and the prompt set. Its sha256 (of the parsed content, so comments
and formatting do not count) goes into every manifest. Command-line options override a spec's
values for one build; the manifest then records the effective options next to the spec.

The spec version must change whenever a build from the same source could give other rows.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from ..configs import ALL_CONFIGS
from ..formats import SPEC_FORMAT
from ..prompts import PROMPT_SET_VERSION
from ..tasks import ALL_TASKS, DEFAULT_STRIDE, FIXED_CUT_TASKS, STRIDE_OVERRIDES

DEFAULT_SPEC = "robomme-mem-2.1.0.toml"


@dataclass(frozen=True)
class BuildSpec:
    name: str
    version: str
    sha256: str
    path: str
    configs: tuple[str, ...]
    tasks: tuple[str, ...] | None = None
    stride: int = DEFAULT_STRIDE
    strides: dict[str, int] = field(default_factory=dict)
    duplicate_keyframes: bool = False
    split_seed: int = 0
    validation_fraction: float = 0.05
    hold_out_failures: bool = False
    """Episodes with a failed grasp injected while recording go to their own split, ``failures``."""
    labels: str = "rules"
    noise_seed: int = 0
    prompt_set: str = PROMPT_SET_VERSION

    def stride_for(self, task: str) -> int:
        return self.strides.get(task, self.stride)

    def recorded(self) -> dict:
        """What a manifest keeps of the spec."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "file": Path(self.path).name}


def spec_path(name: str = DEFAULT_SPEC) -> Path:
    """A spec shipped with the package (``builders/`` in the repository)."""
    return Path(str(files("robomme_mem").joinpath("builders", name)))


def load_spec(path: str | Path | None = None) -> BuildSpec:
    """Read and check a spec file (default: the package's current release spec)."""
    path = Path(path) if path is not None else spec_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read build spec: {exc}") from None
    try:
        return _parse(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad build spec: {exc}") from None


def _parse(data: dict, path: Path) -> BuildSpec:
    if data.get("format") != SPEC_FORMAT:
        raise ValueError(f"format must be {SPEC_FORMAT!r}, got {data.get('format')!r}")
    spec, segments, splits = data["spec"], data.get("segments", {}), data.get("splits", {})
    configs = tuple(data["configs"]["build"])
    unknown = sorted(set(configs) - set(ALL_CONFIGS))
    if unknown or not configs:
        raise ValueError(f"configs.build: unknown configs {unknown}; available: {', '.join(ALL_CONFIGS)}")
    tasks = tuple(data.get("source", {}).get("tasks", ())) or None
    if tasks and set(tasks) - set(ALL_TASKS):
        raise ValueError(f"source.tasks: unknown tasks {sorted(set(tasks) - set(ALL_TASKS))}")
    fixed_cut = dict(segments.get("fixed_cut", FIXED_CUT_TASKS))
    if fixed_cut != FIXED_CUT_TASKS:
        raise ValueError(f"segments.fixed_cut: this version cuts {FIXED_CUT_TASKS} (got {fixed_cut})")
    prompt_set = str(data.get("prompts", {}).get("version", PROMPT_SET_VERSION))
    if prompt_set != PROMPT_SET_VERSION:
        raise ValueError(f"prompts.version: this version has prompt set {PROMPT_SET_VERSION} (got {prompt_set})")
    fraction = float(splits.get("validation_fraction", 0.05))
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"splits.validation_fraction must be in [0, 1), got {fraction}")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return BuildSpec(
        name=str(spec["name"]),
        version=str(spec["version"]),
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        path=str(path),
        configs=configs,
        tasks=tasks,
        stride=int(segments.get("stride", DEFAULT_STRIDE)),
        strides={str(k): int(v) for k, v in segments.get("strides", STRIDE_OVERRIDES).items()},
        duplicate_keyframes=bool(segments.get("duplicate_keyframes", False)),
        split_seed=int(splits.get("seed", 0)),
        validation_fraction=fraction,
        hold_out_failures=bool(splits.get("hold_out_failures", False)),
        labels=str(data.get("labels", {}).get("set", "rules")),
        noise_seed=int(data.get("baseline", {}).get("noise_seed", 0)),
        prompt_set=prompt_set,
    )
