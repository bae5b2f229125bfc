"""robomme-mem: build, label, labels, truth, record, export, push, audit, inspect.

Bad input ends the command with one line on stderr naming file, episode, step and field,
and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .configs import ALL_CONFIGS as AVAILABLE_CONFIGS
from .configs import DEFAULT_CONFIG
from .dataset.labels.engine.defaults import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_SPATIAL_MAX_TOKENS,
    LABELLERS,
    OPENAI,
    RULES,
    TRUTH,
)
from .dataset.layout import DEFAULT_OUT
from .errors import EndpointError, SourceError
from .scripts import CLOSED_PIPE, silence_stdout
from .tasks import ALL_TASKS

# Everything heavier (h5py, datasets, pyarrow, openai) is imported by the command that uses it,
# so `robomme-mem --help` answers at once.


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--workers 0`` or ``--max-episodes -1`` mean nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's own flush at exit
        return status
    except BrokenPipeError:  # `robomme-mem audit | head`: the reader has all it wanted
        silence_stdout()
        return CLOSED_PIPE
    except (SourceError, EndpointError, FileExistsError, ValueError, KeyError) as exc:
        if isinstance(exc, KeyError):
            exc = exc.args[0] if exc.args else exc
        print(f"robomme-mem: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("robomme-mem: interrupted; nothing was written", file=sys.stderr)
        return 130


# -- the options several verbs take, each defined once as a parent parser (parents=[...]) ------

SPEC_HELP = "build spec whose strides pick the call frames (default: the package's)"


def _parent(*flags: str, **kwargs) -> argparse.ArgumentParser:
    """A parent parser (``parents=[...]``) holding one option: defined once, shown alike by every verb that takes it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **kwargs)
    return parent


def _spec_option(help: str = SPEC_HELP) -> argparse.ArgumentParser:
    """``--spec``; ``help`` says what the verb takes from the spec."""
    return _parent("--spec", type=Path, metavar="FILE", help=help)


def _store_option(where: str = "", default=None) -> argparse.ArgumentParser:
    """``--store``; ``where``: where else it may stand (the ``labels`` actions take it as well as ``labels``)."""
    return _parent(
        "--store",
        type=Path,
        metavar="FILE",
        default=default,
        help=f"label store{where} (default: $ROBOMME_MEM_LABELS or ~/.cache/robomme-mem/labels.sqlite)",
    )


def _truth_option(purpose: str, effect: str = "") -> argparse.ArgumentParser:
    """``--truth FILE`` to read, or ``sample`` (resolved with ``--source`` by :func:`_source`); ``purpose``, ``effect``: what the verb does with it."""
    return _parent(
        "--truth",
        type=Path,
        metavar="FILE",
        help=f"{purpose} (written by `robomme-mem truth` or `record --truth`; 'sample': the embedded sample's own)"
        + (f": {effect}" if effect else ""),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robomme-mem", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"robomme-mem {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    source = _parent(
        "--source",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="RoboMME files (record_dataset_<Task>.h5), folders of them, or a LeRobot v3.0 folder; default: the embedded sample",
    )
    selection = _parent("--tasks", nargs="+", choices=ALL_TASKS, metavar="TASK", help="only these tasks")
    selection.add_argument("--max-episodes", type=positive_int, metavar="N", help="first N episodes of each file")
    simulator = _parent(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="episodes at once, one simulator per worker process (default 1)",
    )
    simulator.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="one Ray task per episode on this cluster (host:port, ray://host:port, auto, or local); needs robomme-mem[cluster]",
    )
    store, quiet = _store_option(), _parent("-q", "--quiet", action="store_true", help="no progress bar")

    b = sub.add_parser(
        "build",
        help="build dataset configs from RoboMME HDF5 (default: the embedded sample)",
        parents=[
            source,
            selection,
            _spec_option("build spec (default: the package's builders/robomme-mem-<version>.toml)"),
            store,
            _truth_option("scene truth file", "adds the scene config, one row per call frame with every object"),
            quiet,
        ],
    )
    b.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default: ./{DEFAULT_OUT})")
    b.add_argument(
        "--configs",
        nargs="+",
        choices=AVAILABLE_CONFIGS,
        metavar="CONFIG",
        help=f"configs to build (default: the spec's; any of {', '.join(AVAILABLE_CONFIGS)})",
    )
    b.add_argument(
        "--duplicate-keyframes",
        action="store_true",
        default=None,
        help="repeat segment-end baseline rows as RoboMME's balancing describes (default: the spec's, off)",
    )
    b.add_argument("--noise-seed", type=int, help="seed of the baseline_grounded point jitter (default: the spec's, 0)")
    b.add_argument(
        "--split-file",
        type=Path,
        metavar="FILE",
        help='held-out episodes, JSON {"validation": {"BinFill": [3, 17]}} (default: the spec\'s seeded split)',
    )
    b.add_argument("--workers", type=positive_int, help="worker processes (default: one per core)")
    b.add_argument(
        "--labels",
        metavar="SET",
        help=f"label set of the memory configs, from the label store; '{RULES}' (the spec's default) labels offline during the build",
    )
    b.add_argument(
        "--allow-failed", action="store_true", help="leave episodes with failed labels out instead of refusing to build"
    )
    b.set_defaults(func=_cmd_build)

    _label_parser(sub, source, selection, store, quiet)
    _labels_parser(sub, store)
    _truth_parser(sub, selection, simulator, quiet)
    _record_parser(sub, simulator, quiet)
    _export_parser(sub, source, selection, store, quiet)

    h = sub.add_parser("push", help="publish a build folder as a Hub dataset repo, tagged with a version")
    h.add_argument(
        "folder", type=Path, nargs="?", default=Path(DEFAULT_OUT), help=f"build folder (default: ./{DEFAULT_OUT})"
    )
    h.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    h.add_argument("--tag", help="version tag for the commit, e.g. v1.0.0 (load with revision=TAG)")
    h.add_argument("--private", action="store_true", help="create the repo private")
    h.add_argument("--dry-run", action="store_true", help="list what would be uploaded and stop")
    h.add_argument(
        "--allow-synthetic",
        action="store_true",
        help="publish a build of synthetic episodes (the embedded sample) anyway; refused by default",
    )
    h.set_defaults(func=_cmd_push)

    a = sub.add_parser(
        "audit",
        help="score a label set against what the demonstrations prove (counts, coordinates, target recall, fixtures)",
        parents=[
            source,
            selection,
            _spec_option("build spec the set was labelled with (default: the package's)"),
            store,
            _truth_option(
                "also score the memories against this scene truth",
                "precision, recall of seen objects, hidden objects, stale entries, events, action claims",
            ),
            quiet,
        ],
    )
    a.add_argument(
        "--labels",
        default=RULES,
        metavar="SET",
        help=f"label set in the store, or '{RULES}' (default: computed here, offline)",
    )
    a.add_argument("--json", type=Path, metavar="FILE", help="write the scores as JSON too")
    a.add_argument(
        "--pictures",
        type=Path,
        metavar="DIR",
        help="with --truth: per episode a contact sheet of the memories' points on the frames beside the truth's objects, and DIR/index.html",
    )
    a.set_defaults(func=_cmd_audit)

    i = sub.add_parser(
        "inspect",
        help="check files (every field and frame a build reads) and show tasks, episodes and the subgoal segments of an episode",
        parents=[source, _spec_option(), quiet],
    )
    i.add_argument("path", type=Path, nargs="*", help=argparse.SUPPRESS)  # the bare paths of earlier versions
    i.add_argument("--episode", type=int, help="episode whose segments to show (default: the first of each file)")
    i.add_argument("--all-frames", action="store_true", help="decode every frame, not only those a build reads")
    i.set_defaults(func=_cmd_inspect)
    return parser


@dataclass(frozen=True)
class _Source:
    """``--source`` and ``--truth`` as a verb reads them."""

    paths: list[Path]
    label: str
    """How the closing lines name the source."""
    generated_s: float = 0.0
    """Seconds this run spent generating the embedded sample (a build's closing line counts them)."""
    truth: Path | None = None


def _source(given: list[Path] | None, truth: Path | None = None) -> _Source:
    """The ``--source`` paths, or the embedded sample (generated on first use, and timed); ``--truth sample``: the sample's own truth.

    Every verb that takes ``--truth`` reads it here, after the sample exists.
    """
    from .dataset.sample.embedded import resolve_truth

    if given:
        return _Source(given, ", ".join(map(str, given)), truth=resolve_truth(truth, True))
    from .dataset.sample.embedded import sample_folder, sample_is_ready, sample_source

    if sample_is_ready():
        return _Source([sample_source()], SAMPLE_LABEL, truth=resolve_truth(truth, False))
    print(
        f"generating the embedded sample in {sample_folder()} (first run only: 10 s to a minute, by machine)",
        file=sys.stderr,
    )
    start = time.perf_counter()
    folder = sample_source()
    generated = time.perf_counter() - start
    print(f"generated the embedded sample in {generated:.1f} s", file=sys.stderr)
    return _Source([folder], SAMPLE_LABEL, generated, resolve_truth(truth, False))


SAMPLE_LABEL = "embedded sample (synthetic RoboMME-format episodes)"


def _cmd_build(args: argparse.Namespace) -> int:
    from .dataset.build import BuildOptions, build
    from .dataset.spec import load_spec

    source = _source(args.source, args.truth)
    split_file = args.split_file
    if split_file is None and not args.source:  # the embedded sample holds out one episode per task
        from .dataset.sample.embedded import sample_split_file

        split_file = sample_split_file()
    options = BuildOptions(
        spec=load_spec(args.spec),
        configs=tuple(args.configs) if args.configs else None,
        tasks=tuple(args.tasks) if args.tasks else None,
        max_episodes=args.max_episodes,
        duplicate_keyframes=args.duplicate_keyframes,
        noise_seed=args.noise_seed,
        workers=args.workers,
        labels=args.labels,
        label_store=str(args.store) if args.store else None,
        allow_failed=args.allow_failed,
        split_file=str(split_file) if split_file else None,
        truth=str(source.truth) if source.truth else None,
    )
    start = time.perf_counter()
    result = build(source.paths, args.out, options, progress=not args.quiet)
    elapsed = time.perf_counter() - start + source.generated_s
    if result.version_changes:
        print(
            f"note: {args.out} was last built with other versions: {'; '.join(result.version_changes)}", file=sys.stderr
        )
    print(summary(result, source.label, elapsed, source.generated_s))
    return 0


def summary(result, source_label: str, elapsed: float, generated: float = 0.0) -> str:
    """What a build made: configs x splits, episodes, where the labels came from, how to load it.

    ``elapsed`` counts the ``generated`` seconds spent making the embedded sample first.
    """
    manifest = result.manifest
    totals = manifest["totals"]
    spec = manifest["spec"]
    labels = manifest.get("labels")
    lines = [
        f"built {result.out} from {source_label} in {elapsed:.1f} s"
        + (f" ({generated:.1f} s of it generating the sample)" if generated else "")
        + f" (spec {spec['file']}, robomme-mem {manifest['package']['version']})",
        f"  {totals['episodes']} episodes, {totals['steps']} steps, {totals['call_frames']} call frames",
    ]
    if labels:
        source = f"label set {labels['name']!r}" if labels["name"] != RULES else "the offline rules labeller"
        lines.append(
            f"  labels: {source} ({labels['labeller']}, {labels['params']['model']})"
            + (f"; left out: {len(labels['left_out'])} episodes" if labels.get("left_out") else "")
        )
    answerable = {
        c: t["overall"]
        for c, t in (manifest.get("answerable") or {}).get("by_config", {}).items()
        if t.get("overall", {}).get("n")
    }
    if answerable:
        lines.append(
            "  answerable rows (a target singled out by the past, held in the row's input): "
            + ", ".join(f"{c} {d['rate']:.2f} ({d['n']})" for c, d in answerable.items())
        )
    without = (manifest.get("scene") or {}).get("episodes_without_truth")
    if without:
        lines.append(
            f"  scene: no truth for {len(without)} episode(s), left out of it: {', '.join(without[:3])}{', ...' if len(without) > 3 else ''}"
        )
    from .dataset.layout import EVERY_SPLIT

    held = {s for c in manifest["configs"].values() for s in c}
    splits = [s for s in EVERY_SPLIT if s in held] + sorted(held - set(EVERY_SPLIT))
    width = max(len(c) for c in manifest["configs"])
    lines.append(f"  {'config':<{width}}  " + "  ".join(f"{s:>10}" for s in splits))
    for config, counts in manifest["configs"].items():
        lines.append(f"  {config:<{width}}  " + "  ".join(f"{counts.get(s, 0):>10}" for s in splits))
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in manifest["configs"] else next(iter(manifest["configs"]))
    lines.append(
        f'load it with: from datasets import load_dataset; ds = load_dataset("{load_path(result.out)}", "{default}")'
    )
    return "\n".join(lines)


def load_path(out: Path) -> str:
    """The build folder as ``load_dataset`` must be given it: an absolute path.

    A relative name that is not a folder under the current directory is taken for a Hub repo
    id: ``datasets`` then retries the Hub for half a minute and may serve an older cached copy.
    """
    return str(Path(out).resolve())


def _cmd_push(args: argparse.Namespace) -> int:
    from .dataset.publish import plan_push, push

    plan = plan_push(args.folder, args.repo_id, args.tag, allow_synthetic=args.allow_synthetic)
    size = plan.total_bytes / 1e6
    if args.dry_run:
        for path, n in plan.files:
            print(f"{n:>12}  {path}" + (f"  (the card, rendered for {args.repo_id})" if path == "README.md" else ""))
        print(
            f"would upload {len(plan.files)} files ({size:.1f} MB) to datasets/{args.repo_id}"
            + (f" and tag it {args.tag}" if args.tag else "")
            + f": {plan.commit_message}"
        )
        return 0
    try:
        commit = push(plan, private=args.private)
    except Exception as exc:  # noqa: BLE001 -- the Hub out of reach is one line; anything else is a bug and keeps its traceback
        from .dataset.resolve import hub_cause

        cause = hub_cause(exc)
        if cause is None:
            raise
        raise ValueError(
            f"cannot push {args.folder} to datasets/{args.repo_id}: {cause}; the build folder is as it was"
        ) from None
    print(
        f"pushed {len(plan.files)} files ({size:.1f} MB) to https://huggingface.co/datasets/{args.repo_id} (commit {commit[:12]}"
        + (f", tag {args.tag})" if args.tag else ")")
    )
    revision = f', revision="{args.tag}"' if args.tag else ""
    print(f'load it with: load_dataset("{args.repo_id}", "{DEFAULT_CONFIG}"{revision})')
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    import json

    from .dataset.assemble.answerable import answerable_table
    from .dataset.audit import table
    from .dataset.audit.actions_against_truth import actions_table
    from .dataset.audit.against_truth import truth_table
    from .dataset.label_audit import audit_label_set, write_audit_pictures

    if args.pictures and not args.truth:  # said before any work
        raise ValueError(
            "--pictures draws the scene truth beside the memories: add --truth FILE (written by `robomme-mem truth` or `record --truth`), "
            "or --truth sample for the embedded sample"
        )
    source = _source(args.source, args.truth)
    start = time.perf_counter()
    result = audit_label_set(
        source.paths,
        args.labels,
        tasks=args.tasks,
        max_episodes=args.max_episodes,
        spec=args.spec,
        store=args.store,
        truth=source.truth,
        progress=not args.quiet,
    )
    scores, answerable, against = result.scores, result.answerable, result.against
    print(
        f"audit of label set {args.labels!r} on {source.label}: {len(result.episodes)} episodes in {time.perf_counter() - start:.1f} s"
    )
    print(table(scores))
    if answerable["by_config"]:
        print(
            "\nanswerable rows (a target singled out by the past, held in the row's input with its place, or the video in it):"
        )
        print(answerable_table(answerable))
        for row in answerable["not_answerable"][:5]:
            print(f"  not answerable: {row}")
    if against is not None:
        print(
            f"\nagainst the scene truth ({source.truth.name}; an entry is true within 10 px of a place of an object of its kind):"
        )
        print(truth_table(against))
        print(
            "\naction memories against what happened (a claim is true when that object had that done to it that often by then; "
            "a grounded point within 10 px of where it was acted on):"
        )
        print(actions_table(against["actions"]))
        for task, styles in against["actions"]["scores"].items():
            false = [c for s in styles.values() for c in s["false_claims"]]
            if task != "overall" and false:
                print(f"false action claims ({task}): {'; '.join(false[:3])}")
        for task, s in against["scores"].items():
            if task != "overall" and s["false_entries"]:
                print(f"false entries ({task}): {'; '.join(s['false_entries'][:3])}")
        if against["without_truth"]:
            print(f"no truth for {len(against['without_truth'])}: {', '.join(against['without_truth'][:3])}")
    if args.pictures:
        started = time.perf_counter()
        index = write_audit_pictures(args.pictures, result, progress=not args.quiet)
        print(f"pictures in {time.perf_counter() - started:.1f} s: {index}")
    fixtures = {
        task: s["spatial"]["fixtures"] for task, s in scores.items() if s["spatial"]["fixtures"] and task != "overall"
    }
    for task, found in fixtures.items():
        print(f"fixtures reported as objects ({task}): {'; '.join(found)}")
    every = scores.get("overall", {}).get("spatial", {}).get("fixtures_every_task")
    if every is not None:
        print(f"fixtures in every episode of every task: {'; '.join(every) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(result.record(source.label), indent=2) + "\n", encoding="utf-8")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    """The pre-flight check: every field a build reads, every frame it reads decoded (``--all-frames``: every frame)."""
    from .dataset.inspect_files import CheckedEpisode, CheckedFile, check_files
    from .dataset.source import find_source_files
    from .dataset.spec import load_spec

    spec = load_spec(args.spec)
    source = _source([*(args.source or []), *args.path] or None)
    files = find_source_files(source.paths)
    start, decoded = time.perf_counter(), 0
    for found in check_files(files, spec, args.episode, args.all_frames, progress=not args.quiet):
        if isinstance(found, CheckedFile):
            print(f"{found.path.name}: task {found.task}, {len(found.episodes)} episode(s)")
        elif isinstance(found, CheckedEpisode):
            decoded += found.decoded
            print(
                f"  episode_{found.index}: {found.steps} steps, execution from step {found.execution_start}"
                f", seed {found.seed}, difficulty {found.difficulty}, {found.call_frames} call frames"
            )
        else:
            print(_segments(found))
    which = (
        "every frame"
        if args.all_frames
        else "every frame a build reads (call frames and video demonstrations; --all-frames for all)"
    )
    print(f"ok: {len(files)} file(s), {decoded} frames decoded in {time.perf_counter() - start:.1f} s: {which}")
    return 0


def _segments(shown) -> str:
    lines = [
        f"  episode_{shown.episode} goal: {shown.goal}",
        f"  segments (stride {shown.stride}; call frames marked by the reference's rule):",
        f"    {'#':>3} {'start':>5} {'stop':>5} {'calls':>5}  subgoal | grounded subgoal",
    ]
    for seg in shown.segments:
        lines.append(
            f"    {seg.index:>3} {seg.start:>5} {seg.stop:>5} {seg.calls:>5}  {seg.subgoal} | {seg.grounded_subgoal}"
        )
    lines.append(f"  call frames: {', '.join(map(str, shown.call_frames))}")
    return "\n".join(lines)


# -- label ---------------------------------------------------------------------------------


def _label_parser(sub, source, selection, store, quiet) -> None:
    from .subgoals import STYLES

    p = sub.add_parser(
        "label",
        help="label a source's memories into a named label set (rules offline, or any OpenAI-compatible model)",
        parents=[
            source,
            selection,
            _spec_option(
                "build spec whose strides pick the call frames (default: the package's; label with the spec you build with)"
            ),
            store,
            _truth_option(f"scene truth file for --labeler {TRUTH}"),
            quiet,
        ],
    )
    p.add_argument(
        "--labeler",
        "--labeller",
        dest="labeller",
        choices=LABELLERS,
        default=RULES,
        help=f"{RULES} (offline, default), {OPENAI} (any OpenAI-compatible endpoint) or {TRUTH} (from --truth FILE)",
    )
    p.add_argument("--model", help="model name (openai labeller)")
    p.add_argument(
        "--base-url", help="endpoint, e.g. http://localhost:8000/v1 for vLLM or swift deploy (default: OpenAI)"
    )
    p.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="NAME",
        help=f"environment variable holding the API key (default: {DEFAULT_API_KEY_ENV})",
    )
    p.add_argument(
        "--temperature",
        type=_optional_float,
        default=1.0,
        help="sampling temperature, or 'none' to leave it to the endpoint (default: 1.0, the paper's)",
    )
    p.add_argument(
        "--reasoning-effort",
        type=_optional_str,
        default=None,
        help="reasoning_effort for models that take it (the paper: low); default: not sent",
    )
    p.add_argument(
        "--action-max-tokens",
        type=_optional_int,
        default=None,
        help="completion budget of action memories (default: not sent)",
    )
    p.add_argument(
        "--spatial-max-tokens",
        type=_optional_int,
        default=DEFAULT_SPATIAL_MAX_TOKENS,
        help=f"completion budget of spatial memories (default: {DEFAULT_SPATIAL_MAX_TOKENS})",
    )
    p.add_argument(
        "--image-size", type=int, metavar="PX", help="downscale frames so the longer side is at most PX before sending"
    )
    p.add_argument("--concurrency", type=positive_int, default=16, help="requests in flight (default 16)")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds per HTTP request before it is retried (default 120)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=8,
        help="HTTP retries per request: 429 (after Retry-After), 5xx, timeouts, dropped connections (default 8)",
    )
    p.add_argument(
        "--max-reasks",
        type=int,
        default=2,
        help="asks again after an answer that breaks the prompt's rules (default 2)",
    )
    p.add_argument(
        "--styles", nargs="+", choices=STYLES, default=list(STYLES), help="action memory styles (default: both)"
    )
    p.add_argument("--no-spatial", action="store_true", help="no spatial chain (the dual configs then cannot be built)")
    p.add_argument("--name", help="label set name (default: from the model)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a label set of this name that holds other answers: another labeller, model, parameters or source selection (refused by default)",
    )
    p.add_argument("--retry-failed", action="store_true", help="ask again for requests stored as failures")
    p.add_argument(
        "--import-batch",
        type=Path,
        metavar="FILE",
        help="store the answers of a Batch API output file first (nothing is sent online)",
    )
    p.add_argument(
        "--export-batch",
        type=Path,
        metavar="FILE",
        help="write the pending requests as an OpenAI Batch API input file instead of sending them",
    )
    p.add_argument(
        "--prices", type=Path, metavar="FILE", help='price table JSON {"model": {"input": USD/1M, "output": USD/1M}}'
    )
    p.add_argument(
        "--price-input", type=float, metavar="USD", help="price per 1M input tokens (overrides the built-in table)"
    )
    p.add_argument(
        "--price-output", type=float, metavar="USD", help="price per 1M output tokens (overrides the built-in table)"
    )
    p.set_defaults(func=_cmd_label)


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


_optional_float, _optional_int, _optional_str = _optional(float), _optional(int), _optional(str)


def _cmd_label(args: argparse.Namespace) -> int:
    from .dataset.labels.engine.requests import LabelParams
    from .dataset.labels.labellers.choose import make_labeller
    from .dataset.labels.labelling import default_name
    from .dataset.labels.store.cache import LabelCache
    from .dataset.labels.store.sets import default_store
    from .dataset.source import find_source_files, select_files

    source = _source(args.source, args.truth)
    files = select_files(find_source_files(source.paths), tuple(args.tasks) if args.tasks else None)
    params = None
    if args.model:
        params = LabelParams(
            model=args.model,
            temperature=args.temperature,
            reasoning_effort=args.reasoning_effort,
            action_max_tokens=args.action_max_tokens,
            spatial_max_tokens=args.spatial_max_tokens,
            image_size=args.image_size,
        )
    labeller = make_labeller(
        args.labeller,
        params,
        batch=bool(args.export_batch or args.import_batch),
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        timeout_s=args.timeout,
        max_retries=args.max_retries,
        max_reasks=args.max_reasks,
        truth=source.truth,
    )
    name = args.name or default_name(labeller.params)
    store_path = args.store or default_store()
    with LabelCache(store_path) as store:
        answers_before = len(store)
        try:
            return _label_run(args, files, source.label, labeller, name, store, store_path)
        except KeyboardInterrupt:
            kept = len(store) - answers_before
            print(
                f"robomme-mem: interrupted; {kept} answers from this run are kept in {store_path} ({len(store)} in all); "
                "run the same command again to resume: stored answers are not asked again",
                file=sys.stderr,
            )
            return 130


def _label_run(args, files, label, labeller, name, store, store_path) -> int:
    from .dataset.labels.labellers.accounting import report
    from .dataset.labels.labellers.batch import import_batch
    from .dataset.labels.rounds import label_round

    if args.import_batch:
        imported = import_batch(args.import_batch, store)
        print(f"imported {args.import_batch}: {imported.ok} answers, {imported.failed} failures")
        for problem in imported.problems[:10]:
            print(f"  {problem}", file=sys.stderr)
    done = label_round(
        files,
        args.labeller,
        labeller,
        store,
        name,
        spec=args.spec,
        max_episodes=args.max_episodes,
        styles=tuple(args.styles),
        spatial=not args.no_spatial,
        concurrency=args.concurrency,
        retry_failed=args.retry_failed,
        replace=args.replace,
        batch=bool(args.export_batch or args.import_batch),
        export_batch=args.export_batch,
        prices=args.prices,
        price_input=args.price_input,
        price_output=args.price_output,
        progress=not args.quiet,
    )
    run = done.run
    print(
        f"labelled {len(run.episodes)} episodes of {label} with {labeller.name} ({labeller.params.model}) in {done.seconds:.1f} s"
    )
    print(report(run.stats, done.cost, offline=done.offline))
    if done.batch_written is not None:
        print(
            f"wrote {done.batch_written} pending requests to {args.export_batch}: submit it to the Batch API, then run this command with "
            "--import-batch OUTPUT --export-batch NEXT (a spatial chain takes one round per call frame)"
        )
        return 0
    for problem in run.problems[:10]:
        print(f"  failed: {problem}", file=sys.stderr)
    if run.meta is None:
        print(
            f"{run.pending} requests are still pending (export them with --export-batch FILE); label set {name!r} not saved",
            file=sys.stderr,
        )
        return 1
    if run.replaced is not None:
        from .dataset.labels.store.sets import describe_set

        print(
            f"replaced label set {name!r}: {describe_set(run.replaced)}"
            + (" (the same answers)" if run.replaced.get("id") == run.meta["id"] else "")
        )
    print(
        f"label set {name!r} ({run.meta['counts']['requests']} requests, id {run.meta['id'][:12]}) saved in {store_path}"
    )
    if run.problems:
        failed = run.stats.failed + run.stats.failed_earlier
        print(
            f"{failed} requests failed ({len(run.problems)} uses of them): rerun with --retry-failed, or build with --allow-failed to leave their episodes out",
            file=sys.stderr,
        )
        return 1
    print(f"build from it with: {build_hint(args, name)}")
    return 0


def build_hint(args: argparse.Namespace, name: str) -> str:
    """The ``robomme-mem build`` line that builds from this label set: same source, tasks, episodes, spec and store."""
    import shlex

    words = ["robomme-mem", "build"]
    if args.source:
        words += ["--source", *map(str, args.source)]
    if args.tasks:
        words += ["--tasks", *args.tasks]
    if args.max_episodes is not None:
        words += ["--max-episodes", str(args.max_episodes)]
    if args.spec:
        words += ["--spec", str(args.spec)]
    words += ["--labels", name]
    if args.store:
        words += ["--store", str(args.store)]
    return shlex.join(words)


def _labels_parser(sub, store) -> None:
    p = sub.add_parser("labels", help="list, export and import label sets", parents=[store])
    here = _store_option(
        ", here or before the action", default=argparse.SUPPRESS
    )  # `labels import --store S FILE` as well as `labels --store S import FILE`
    inner = p.add_subparsers(required=True, metavar="ACTION")
    listing = inner.add_parser(
        "list",
        help="label sets in the store: name, labeller, model, requests, failures, id",
        description="List the label sets in the store, one a line: name, labeller, model, request count, failures, id prefix.",
        parents=[here],
    )
    listing.set_defaults(func=_cmd_labels_list)
    e = inner.add_parser(
        "export", help="write a label set to .parquet or .jsonl (columns: docs/labelling.md)", parents=[here]
    )
    e.add_argument("name", metavar="SET", help="label set to export (see `robomme-mem labels list`)")
    e.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="file to write, .parquet or .jsonl (a .jsonl's first line holds the set's metadata); replaced if it exists",
    )
    e.set_defaults(func=_cmd_labels_export)
    i = inner.add_parser("import", help="read a label set from .parquet or .jsonl into the store", parents=[here])
    i.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="a label set file written by `robomme-mem labels export` (.parquet or .jsonl)",
    )
    i.add_argument("--name", help="store it under this name (default: the name in the file)")
    i.add_argument(
        "--replace",
        action="store_true",
        help="replace a label set of that name holding other answers (refused by default)",
    )
    i.set_defaults(func=_cmd_labels_import)


def _store(args: argparse.Namespace):
    from .dataset.labels.store.cache import LabelCache
    from .dataset.labels.store.sets import default_store

    return LabelCache(args.store or default_store())


def _cmd_labels_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        names = store.set_names()
        if not names:
            print(f"no label sets in {store.path}")
        for name in names:
            meta = store.set_meta(name)
            counts = meta["counts"]
            print(
                f"{name}: {meta['labeller']} {meta['params']['model']}, {counts['requests']} requests, {counts['failed']} failed, id {meta['id'][:12]}"
            )
    return 0


def _cmd_labels_export(args: argparse.Namespace) -> int:
    from .dataset.labels.store.transfer import export_set

    with _store(args) as store:
        n = export_set(store, args.name, args.file)
    print(f"exported label set {args.name!r}: {n} rows to {args.file}")
    return 0


def _cmd_labels_import(args: argparse.Namespace) -> int:
    from .dataset.labels.store.sets import describe_set
    from .dataset.labels.store.transfer import import_set

    with _store(args) as store:
        held = {name: store.set_meta(name) for name in store.set_names()}
        name, n = import_set(store, args.file, args.name, replace=args.replace)
        new_id = store.set_meta(name)["id"]
    if args.replace and name in held and held[name].get("id") != new_id:
        print(f"replaced label set {name!r}: {describe_set(held[name])}")
    print(f"imported label set {name!r}: {n} rows into {store.path}")
    return 0


# -- export --------------------------------------------------------------------------------


def _export_parser(sub, source, selection, store, quiet) -> None:
    e = sub.add_parser(
        "export",
        help="export a source and its memories in another format (lerobot: LeRobot v3.0)",
        parents=[source, selection, _spec_option(), store, quiet],
    )
    e.add_argument(
        "format", choices=["lerobot"], help="lerobot: a LeRobot v3.0 dataset, memories as language_persistent rows"
    )
    e.add_argument("--out", type=Path, help="folder of the new dataset (not with --annotate)")
    e.add_argument(
        "--annotate",
        type=Path,
        metavar="EXISTING",
        help="add only the language columns to this existing LeRobot copy of the same episodes, in place",
    )
    e.add_argument(
        "--labels",
        default=RULES,
        metavar="SET",
        help=f"label set of the memories ('{RULES}', the default, labels offline; 'none': frames and subgoals only)",
    )
    e.add_argument(
        "--fps", type=positive_int, default=10, help="frames per second of the dataset (default 10, as lerobot/robomme)"
    )
    e.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from .dataset.export import annotate_lerobot, export_lerobot
    from .dataset.spec import load_spec

    spec = load_spec(args.spec)
    if args.annotate:
        if args.out:
            print("robomme-mem export: --annotate writes into EXISTING; drop --out", file=sys.stderr)
            return 2
        if args.labels == "none":
            print("robomme-mem export: --annotate needs a label set", file=sys.stderr)
            return 2
        result = annotate_lerobot(
            args.annotate, args.source, labels=args.labels, store=args.store, spec=spec, progress=not args.quiet
        )
        print(
            f"annotated {result.episodes} episodes ({result.frames} frames) of {result.out} with {result.language_rows} language rows "
            f"in {result.seconds:.1f} s"
        )
    else:
        if not args.out:
            print("robomme-mem export: --out DIR is needed (or --annotate EXISTING)", file=sys.stderr)
            return 2
        source = _source(args.source)
        result = export_lerobot(
            source.paths,
            args.out,
            labels=None if args.labels == "none" else args.labels,
            store=args.store,
            spec=spec,
            tasks=tuple(args.tasks) if args.tasks else None,
            max_episodes=args.max_episodes,
            fps=args.fps,
            progress=not args.quiet,
        )
        print(
            f"exported {result.episodes} episodes ({result.frames} frames) of {source.label} to {result.out} with {result.language_rows} language rows "
            f"in {result.seconds:.1f} s"
        )
    if result.unlabelled:
        print(
            f"without memories (the label set lacks them): {', '.join(result.unlabelled[:3])}{', ...' if len(result.unlabelled) > 3 else ''}"
        )
    print(f'load it with LeRobot: LeRobotDataset("robomme-mem/export", root="{result.out}")')
    return 0


def _truth_parser(sub, selection, simulator, quiet) -> None:
    p = sub.add_parser(
        "truth",
        help="replay each demonstration in RoboMME's simulator and record where every task object really is (needs RoboMME)",
        parents=[selection, _spec_option(), simulator, quiet],
    )
    p.add_argument(
        "--source", nargs="+", type=Path, metavar="PATH", required=True, help="recorded RoboMME files or folders"
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        required=True,
        help="the truth file (JSON Lines); a rerun adds only the episodes it lacks",
    )
    p.add_argument(
        "--max-image-diff",
        type=float,
        metavar="D",
        help="mean absolute difference (0..255) a replayed call frame may have from the recorded one (default 6)",
    )
    p.add_argument(
        "--max-point-px",
        type=float,
        metavar="PX",
        help="distance a grounded point may lie from its target's replayed centre (default 4)",
    )
    p.add_argument(
        "--retry-refused",
        action="store_true",
        help="replay again the episodes the file holds as refused (their new record replaces the old)",
    )
    p.set_defaults(func=_cmd_truth)


def _simulator_problem(ray: str | None) -> str | None:
    """Why RoboMME's simulator (and the Ray cluster, if one is named) cannot run here; None: they can."""
    from .dataset.truth.replay import simulator_problem
    from .parallel import ray_problem

    return simulator_problem() or (ray_problem(ray) if ray else None)


def _cmd_truth(args: argparse.Namespace) -> int:
    if problem := _simulator_problem(args.ray):
        print(f"robomme-mem truth: {problem}", file=sys.stderr)
        return 2
    from .dataset.source import find_source_files, select_files
    from .dataset.spec import load_spec
    from .dataset.truth.fidelity import Thresholds
    from .dataset.truth.replay_source import record_truth

    defaults = Thresholds()
    thresholds = Thresholds(
        args.max_image_diff if args.max_image_diff is not None else defaults.max_mean_diff,
        args.max_point_px if args.max_point_px is not None else defaults.max_point_px,
    )
    files = select_files(find_source_files(args.source), tuple(args.tasks) if args.tasks else None)
    run = record_truth(
        files,
        args.out,
        spec=load_spec(args.spec),
        max_episodes=args.max_episodes,
        thresholds=thresholds,
        workers_requested=args.workers,
        progress=not args.quiet,
        ray_address=args.ray,
        retry_refused=args.retry_refused,
    )
    for kept in run.kept:
        print(
            f"  {kept['task']} episode {kept['episode']}: {kept['status']}, {kept['steps']} steps, {kept['calls']} call frames, "
            f"worst frame {kept['worst_image_diff']:.2f}/255, grounded points within {kept['worst_point_px'] or 0:.1f} px, "
            f"{kept['seconds']['total']:.1f} s, {kept['seconds'].get('peak_rss_mb', 0):.0f} MB"
        )
    for refused in run.refused:
        print(
            f"  {refused['task']} episode {refused['episode']}: no truth: {'; '.join(refused['problems'])}",
            file=sys.stderr,
        )
    held = f"; {run.skipped} already in the file" if run.skipped else ""
    print(
        f"truth of {len(run.kept)} of {len(run.kept) + len(run.refused)} episodes written to {run.out} in {run.seconds:.1f} s{held}"
    )
    return 1 if run.refused and not run.kept else 0


# -- record --------------------------------------------------------------------------------


def _record_parser(sub, simulator, quiet) -> None:
    from .dataset.record.jobs import FAILURE_POLICIES, SPLITS

    p = sub.add_parser(
        "record",
        help="make RoboMME demonstrations with RoboMME's recorder and solvers, failed grasps included (needs RoboMME)",
        parents=[simulator, quiet],
    )
    p.add_argument("--tasks", nargs="+", choices=ALL_TASKS, metavar="TASK", required=True, help="tasks to record")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="train",
        help="RoboMME's metadata split whose seeds and difficulties to use (default: train)",
    )
    p.add_argument(
        "--episodes",
        required=True,
        metavar="LIST",
        help="episode numbers: 0-99, 3, 0-5,10; past the metadata's, new seeds by its pattern (docs/record.md)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of record_dataset_<Task>.h5 files; a rerun records only the episodes it lacks",
    )
    p.add_argument(
        "--failures",
        choices=FAILURE_POLICIES,
        default="auto",
        help="injected failed grasps: auto (RoboMME's rule: episodes 0-5), none, "
        "or z / xy / mixed on every episode (default: auto)",
    )
    p.add_argument(
        "--trim",
        action="store_true",
        help="leave out what a memory dataset never reads (depth, wrist images) and store front images with gzip 9",
    )
    p.add_argument(
        "--truth",
        type=Path,
        metavar="FILE",
        help="capture the scene truth while recording and write the folder's into FILE "
        "(what `robomme-mem truth` would replay; --truth FILE of build and audit reads it)",
    )
    p.add_argument(
        "--shard-episodes",
        type=positive_int,
        metavar="N",
        help="at scale: episode e goes to record_dataset_<Task>.shard-<e // N>.h5, "
        "so a run rewrites only the shards it adds to (default: one file per task)",
    )
    p.set_defaults(func=_cmd_record)


def _cmd_record(args: argparse.Namespace) -> int:
    from .dataset.record.jobs import pin_numerics

    pin_numerics()  # before anything loads numpy
    if problem := _simulator_problem(args.ray):
        print(f"robomme-mem record: {problem}", file=sys.stderr)
        return 2
    from .dataset.record.jobs import episode_numbers
    from .dataset.record.run import record_run

    run = record_run(
        args.tasks,
        args.split,
        episode_numbers(args.episodes),
        args.out,
        failures=args.failures,
        trim=args.trim,
        workers=args.workers,
        ray_address=args.ray,
        progress=not args.quiet,
        truth=args.truth,
        shard_episodes=args.shard_episodes,
    )
    for line in run.kept:
        failure = line.get("injected_failure")
        said = (
            f", failed grasp {failure['mode']} at subgoal {failure['subgoal_index']} ({failure['subgoal']})"
            if failure and failure.get("executed")
            else ""
        )
        print(
            f"  {line['task']} episode {line['episode']}: seed {line['seed']} {line['difficulty']}, {line['steps']} steps, "
            f"{line['seconds']} s, {line['mb']} MB{said}"
        )
    for line in run.refused:
        print(
            f"  {line['task']} episode {line['episode']} (seed {line['seed']}): not kept: {line['reason']}",
            file=sys.stderr,
        )
    held = f"; {run.skipped} already there" if run.skipped else ""
    files = ", ".join(f"{name} {n}" for name, n in run.files.items()) or "none changed"
    print(
        f"recorded {len(run.kept)} of {len(run.kept) + len(run.refused)} episodes into {run.out} in {run.seconds:.1f} s{held} "
        f"(episodes per file: {files})"
    )
    for line in run.kept:
        if "capture_problem" in line:
            print(
                f"  {line['task']} episode {line['episode']}: no captured truth: {line['capture_problem']}",
                file=sys.stderr,
            )
    if run.truth is not None:
        truth = run.truth
        for refused in truth.refused:
            print(
                f"  {refused['task']} episode {refused['episode']}: captured truth refused: {'; '.join(refused['problems'])}",
                file=sys.stderr,
            )
        later = (
            (
                f"; {len(truth.uncaptured)} recorded without --truth ({', '.join(truth.uncaptured[:3])}{', ...' if len(truth.uncaptured) > 3 else ''}): "
                "`robomme-mem truth` replays them"
            )
            if truth.uncaptured
            else ""
        )
        print(f"captured truth of {len(truth.kept)} episodes in {args.truth} ({truth.added} new records){later}")
    return 1 if run.refused or (run.truth is not None and run.truth.refused) else 0


if __name__ == "__main__":
    sys.exit(main())
