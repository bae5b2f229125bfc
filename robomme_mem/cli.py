"""``robomme-mem``: build, inspect.

Bad input ends the command with one line on stderr naming file, episode, step and field,
and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .build import AVAILABLE_CONFIGS, BuildOptions, build
from .errors import SourceError
from .layout import DEFAULT_OUT
from .segment import plan_episode
from .source import SourceFile, find_source_files
from .tasks import ALL_TASKS


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (SourceError, FileExistsError, ValueError) as exc:
        print(f"robomme-mem: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("robomme-mem: interrupted; nothing was written", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robomme-mem", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"robomme-mem {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="build dataset configs from RoboMME HDF5 (default: the embedded sample)")
    b.add_argument("--source", nargs="+", type=Path, metavar="PATH", help="record_dataset_<Task>.h5 files or folders of them; default: the embedded sample")
    b.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default: ./{DEFAULT_OUT})")
    b.add_argument("--configs", nargs="+", default=list(AVAILABLE_CONFIGS), choices=AVAILABLE_CONFIGS, metavar="CONFIG", help=f"configs to build (default: all of {', '.join(AVAILABLE_CONFIGS)})")
    b.add_argument("--tasks", nargs="+", choices=ALL_TASKS, metavar="TASK", help="only these tasks")
    b.add_argument("--max-episodes", type=int, metavar="N", help="first N episodes of each file")
    b.add_argument("--duplicate-keyframes", action="store_true", help="repeat segment-end rows as RoboMME's balancing describes (off by default, as in its output)")
    b.add_argument("--noise-seed", type=int, default=0, help="seed of the baseline_grounded point jitter (default 0)")
    b.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_build)

    i = sub.add_parser("inspect", help="check files and show tasks, episodes, steps and the subgoal segments of an episode")
    i.add_argument("path", type=Path, nargs="+", help="RoboMME files or folders")
    i.add_argument("--episode", type=int, help="episode whose segments to show (default: the first of each file)")
    i.set_defaults(func=_cmd_inspect)
    return parser


def _cmd_build(args: argparse.Namespace) -> int:
    if args.source:
        sources, label = args.source, ", ".join(map(str, args.source))
    else:
        from .sample import sample_folder, sample_is_ready, sample_source

        if not sample_is_ready():
            print(f"generating the embedded sample in {sample_folder()} (first run only, ~10 s)", file=sys.stderr)
        sources, label = [sample_source()], "embedded sample (synthetic RoboMME-format episodes)"
    options = BuildOptions(
        configs=tuple(args.configs),
        tasks=tuple(args.tasks) if args.tasks else None,
        max_episodes=args.max_episodes,
        duplicate_keyframes=args.duplicate_keyframes,
        noise_seed=args.noise_seed,
        workers=args.workers,
    )
    start = time.perf_counter()
    result = build(sources, args.out, options, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    totals = result.manifest["totals"]
    print(f"built {result.out} from {label} in {elapsed:.1f} s")
    print(f"  {totals['episodes']} episodes, {totals['steps']} steps, {totals['call_frames']} call frames")
    width = max(len(c) for c in result.rows)
    for config, splits in result.manifest["configs"].items():
        print(f"  {config:<{width}}  " + ", ".join(f"{split}: {n} rows" for split, n in splits.items()))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    for path in find_source_files(args.path):
        with SourceFile(path) as src:
            indices = src.episode_indices
            print(f"{path.name}: task {src.task}, {len(indices)} episode(s)")
            for index in indices:
                ep = src.episode(index)
                ep.check_images()
                print(
                    f"  episode_{index}: {ep.num_steps} steps, execution from step {ep.execution_start}"
                    f", seed {ep.seed}, difficulty {ep.difficulty}"
                )
            shown = args.episode if args.episode is not None else indices[0]
            _print_segments(src.episode(shown))
    return 0


def _print_segments(ep) -> None:
    plan = plan_episode(ep.simple_subgoals, ep.execution_start, ep.task)
    print(f"  episode_{ep.index} goal: {ep.goal}")
    print(f"  segments (stride {plan.stride}; call frames marked by the reference's rule):")
    print(f"    {'#':>3} {'start':>5} {'stop':>5} {'calls':>5}  subgoal | grounded subgoal")
    for seg in plan.segments:
        calls = sum(seg.start <= f < seg.stop for f in plan.call_frames)
        print(f"    {seg.index:>3} {seg.start:>5} {seg.stop:>5} {calls:>5}  {ep.simple_subgoal(seg.start)} | {ep.grounded_subgoal(seg.start)}")
    print(f"  call frames: {', '.join(map(str, plan.call_frames))}")


if __name__ == "__main__":
    sys.exit(main())
