"""What a consumer's ``--dataset`` names: a build folder here, or a Hub repo fetched as one.

Shared by the scripts that read published data (``train/sft.py``, ``evaluate/offline.py``,
``evaluate/report.py --traces``), so they agree on what the name means and refuse alike, in one
line, before anything is downloaded:

- nothing: the build in ``./robomme-mem`` (where ``robomme-mem build`` writes), if there is one;
- an existing folder: a build (it holds ``manifest.json``), or a refusal;
- ``ORG/NAME``: a Hub dataset repo, downloaded at ``revision`` (only the files asked for), whose
  snapshot is laid out as a build. Offline or unreachable, the copy of exactly that repo and
  revision cached on this machine is used and a note says so; without one, a refusal says why;
- anything else (a bare name like ``robomme-mem`` with no such folder) is refused: it is never
  looked up on the Hub, so no cached copy of another dataset of that name is read in its place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import first_line
from .layout import CARD, DEFAULT_OUT, MANIFEST

HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
"""``ORG/NAME``, as the Hub spells repo ids."""


class DatasetError(ValueError):
    """The named dataset cannot be used; the message is one line saying what was looked for and what to do."""


class HubError(ValueError):
    """A Hub repo cannot be had now; the message is the cause in a few words, for the caller's sentence."""


@dataclass(frozen=True)
class Located:
    """A dataset on this machine: ``root`` is laid out as a build (a build folder, or a Hub snapshot)."""

    root: Path
    source: str
    """What the user named: the folder as given, or ``ORG/NAME``."""
    revision: str | None = None
    commit: str | None = None
    """The Hub commit of a snapshot (None for a local build)."""
    note: str | None = None
    """One line the user should see: a cached copy was used because the Hub could not be asked."""
    manifest: dict = field(default_factory=dict)

    @property
    def hub(self) -> bool:
        return self.commit is not None


def is_hub_id(name: str) -> bool:
    return bool(HUB_ID.fullmatch(name)) and ".." not in name and "--" not in name and not name.endswith(".")


def locate_dataset(
    dataset: str | os.PathLike | None,
    *,
    revision: str | None = None,
    patterns: Sequence[str] = (),
    flag: str = "--dataset",
) -> Located:
    """The build ``dataset`` names (None: ``./robomme-mem``), or the Hub repo's snapshot of ``patterns``.

    Every refusal is a :class:`DatasetError` with a one-line message naming ``flag``.
    """
    if dataset is None:
        default = Path(DEFAULT_OUT)
        if not (default / MANIFEST).is_file():
            raise DatasetError(
                f"no {flag} given and no build here (looked for ./{default / MANIFEST} in {Path.cwd()}): "
                f"pass {flag} FOLDER (a build made by `robomme-mem build`) or {flag} ORG/NAME (a Hub dataset repo)"
            )
        dataset = DEFAULT_OUT
    name = os.fspath(dataset)
    root = Path(name).expanduser()
    if root.exists():
        if not (root / MANIFEST).is_file():
            raise DatasetError(
                f"{name}: not a robomme-mem build (no {MANIFEST} in it): pass the folder `robomme-mem build --out` "
                f"wrote, or a Hub dataset repo as ORG/NAME"
            )
        if revision is not None:
            raise DatasetError(
                f"--revision {revision} names a Hub revision, but {name} is a local build folder: "
                f"drop --revision, or name the Hub repo as ORG/NAME"
            )
        return Located(root, name, manifest=_manifest(root))
    if not is_hub_id(name):
        raise DatasetError(
            f"{flag} {name}: no such build folder (looked for {root.absolute() / MANIFEST}) and not a Hub dataset "
            f"repo id (ORG/NAME): build one with `robomme-mem build --out {name}`, or name the Hub repo as ORG/NAME"
        )
    try:
        snapshot, note = hub_snapshot(name, revision=revision, patterns=[MANIFEST, CARD, *patterns])
    except HubError as exc:
        where = name + (f" at revision {revision}" if revision else "")
        raise DatasetError(
            f"cannot fetch the dataset {where} from the Hub: {exc} (nor is there a local folder {name})"
        ) from None
    if not (snapshot / MANIFEST).is_file():
        raise DatasetError(f"{name}: not a robomme-mem dataset repo (no {MANIFEST} in it)")
    return Located(snapshot, name, revision, snapshot.name, note, _manifest(snapshot))


def _manifest(root: Path) -> dict:
    from .write.manifest import read_build_manifest

    try:
        return read_build_manifest(root / MANIFEST)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def hub_snapshot(
    repo_id: str, *, repo_type: str = "dataset", revision: str | None = None, patterns: Sequence[str] | None = None
) -> tuple[Path, str | None]:
    """A local snapshot of a Hub repo at ``revision`` (only ``patterns``), and a note if it is a cached copy.

    The Hub is asked first (one request, no retries), so a failure says what it was: offline
    (``HF_HUB_OFFLINE``), unreachable, no such repo or revision. Offline or unreachable, the copy
    of exactly this repo and revision cached here is used, with a note; else :class:`HubError`.
    """
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    allow = list(patterns) if patterns else None
    kind = "dataset repo" if repo_type == "dataset" else f"{repo_type} repo"
    if constants.HF_HUB_OFFLINE:
        why = "offline (HF_HUB_OFFLINE is set)"
    else:
        try:
            HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision)
            why = None
        except RevisionNotFoundError:
            raise HubError(f"the {kind} {repo_id} has no revision {revision!r}") from None
        except GatedRepoError:
            raise HubError(
                f"the {kind} {repo_id} is gated: accept its terms on the Hub and log in (`hf auth login`)"
            ) from None
        except RepositoryNotFoundError:
            raise HubError(
                f"no {kind} {repo_id} on the Hub (or it is private and this machine is not logged in: `hf auth login`)"
            ) from None
        except Exception as exc:  # noqa: BLE001 -- a connection error (httpx's or the OS's) or a Hub error status
            if not isinstance(exc, HfHubHTTPError) and hub_cause(exc) is None:
                raise
            why = f"the Hub ({constants.ENDPOINT}) cannot be reached ({type(exc).__name__}: {_first_line(exc)})"
    if why is None:
        try:
            return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, allow_patterns=allow)), None
        except Exception as exc:  # noqa: BLE001 -- any failure to download is one line for the user
            raise HubError(f"download failed ({type(exc).__name__}: {_first_line(exc)})") from None
    try:
        cached = Path(
            snapshot_download(
                repo_id, repo_type=repo_type, revision=revision, allow_patterns=allow, local_files_only=True
            )
        )
    except Exception:  # noqa: BLE001 -- "not in the cache" differs by huggingface_hub version
        raise HubError(f"{why}, and no copy of it is cached on this machine") from None
    return (
        cached,
        f"{why}: using the copy of {repo_id} (revision {revision or 'main'}, commit {cached.name[:12]}) cached on this machine",
    )


def hub_cause(exc: BaseException) -> str | None:
    """Why a call to the Hub failed, in a few words, when it is the machine's situation (offline, no
    network, no login) rather than a bug; None for anything else."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return "offline (HF_HUB_OFFLINE is set)"
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return f"the Hub refused this machine's credentials (HTTP {status}): log in with `hf auth login`, or set $HF_TOKEN"
        return f"the Hub answered HTTP {status}: {_first_line(exc)}"
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0].startswith(("httpx", "httpcore")):
        return f"the Hub ({constants.ENDPOINT}) cannot be reached ({type(exc).__name__}: {_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    return first_line(exc, 200)
