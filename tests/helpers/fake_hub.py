"""Serve local folders as Hugging Face Hub dataset repos over HTTP on loopback (read side only).

Implements what ``datasets.load_dataset(repo_id, config, revision=...)`` asks of the Hub:
repo and revision info, directory trees, paths-info, and file downloads (with ranges), so a
pushed build folder can be loaded by repo id and tag exactly as a Hub snapshot would serve it.
The write side (``HfApi``) is recorded by the tests instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

_API = re.compile(r"/api/datasets/([^/]+/[^/]+)(?:/(revision|tree|paths-info)/([^/]+)(/.*)?)?")
_RESOLVE = re.compile(r"/datasets/([^/]+/[^/]+)/(resolve)/([^/]+)/(.+)")


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo_id -> {"refs": {name: sha}, "commits": {sha: folder}}
        self.log: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, "HEAD")

            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_POST(self) -> None:
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, folder: Path, repo_id: str, tag: str | None = None) -> str:
        """Make ``folder`` the new head of ``repo_id`` (and ``tag``); returns its commit sha."""
        folder = Path(folder).resolve()
        digest = hashlib.sha1(repo_id.encode())
        for rel in self._files(folder):
            digest.update(rel.encode())
            digest.update((folder / rel).read_bytes())
        sha = digest.hexdigest()
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
        repo["commits"][sha] = folder
        repo["refs"]["main"] = sha
        if tag:
            repo["refs"][tag] = sha
        return sha

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _files(folder: Path) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    @staticmethod
    def _entry(folder: Path, rel: str) -> dict:
        path = folder / rel
        if path.is_dir():
            return {"type": "directory", "path": rel, "oid": hashlib.sha1(rel.encode()).hexdigest()}
        data = path.read_bytes()
        lfs = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
        return {"type": "file", "path": rel, "size": len(data), "oid": hashlib.sha1(data).hexdigest(), "lfs": lfs}

    def _send(self, handler, method: str, code: int, body, headers=()) -> None:
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(code)
        for key, value in [("Content-Length", str(len(body))), *headers]:
            handler.send_header(key, value)
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)

    def _handle(self, handler, method: str) -> None:
        self.log.append(f"{method} {handler.path}")
        url = urlparse(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        match = _API.fullmatch(url.path) or _RESOLVE.fullmatch(url.path)
        repo = self.repos.get(match.group(1)) if match else None
        revision = unquote(match.group(3) or "main") if match else None
        sha = revision if repo and revision in repo["commits"] else (repo["refs"].get(revision) if repo else None)
        if not sha:
            error = "RevisionNotFound" if repo else "RepoNotFound"
            return self._send(
                handler, method, 404, {"error": error}, [("X-Error-Code", error), ("X-Error-Message", error)]
            )
        folder, kind, rel = repo["commits"][sha], match.group(2), unquote((match.group(4) or "").strip("/"))
        path = folder / rel
        if kind in (None, "revision"):
            info = {
                "id": match.group(1),
                "sha": sha,
                "private": False,
                "gated": False,
                "disabled": False,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": f} for f in self._files(folder)],
            }
            return self._send(handler, method, 200, info)
        if kind == "paths-info":
            form = json.loads(body) if "json" in handler.headers.get("Content-Type", "") else parse_qs(body.decode())
            paths = [p.strip("/") for p in form.get("paths", [])]
            return self._send(handler, method, 200, [self._entry(folder, p) for p in paths if (folder / p).exists()])
        if kind == "tree" and path.is_dir():
            recursive = parse_qs(url.query).get("recursive", ["false"])[0] == "true"
            children = sorted(path.rglob("*") if recursive else path.iterdir())
            return self._send(
                handler, method, 200, [self._entry(folder, c.relative_to(folder).as_posix()) for c in children]
            )
        if kind == "resolve" and path.is_file():
            data = path.read_bytes()
            headers = [("X-Repo-Commit", sha), ("ETag", f'"{hashlib.sha256(data).hexdigest()}"')]
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range", ""))
            if ranged and method == "GET":
                start, end = int(ranged.group(1)), min(int(ranged.group(2) or len(data) - 1), len(data) - 1)
                return self._send(
                    handler,
                    method,
                    206,
                    data[start : end + 1],
                    [*headers, ("Content-Range", f"bytes {start}-{end}/{len(data)}")],
                )
            return self._send(handler, method, 200, data, headers)
        self._send(
            handler,
            method,
            404,
            {"error": "EntryNotFound"},
            [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "not found")],
        )


def use_fake_hub(monkeypatch, tmp_path: Path, endpoint: str) -> None:
    """Point the already-imported ``huggingface_hub`` and ``datasets`` at ``endpoint``, with fresh caches."""
    import datasets.config as dc
    import huggingface_hub.constants as hc

    for module, name, value in (
        (hc, "ENDPOINT", endpoint),
        (hc, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"),
        (hc, "HF_HUB_CACHE", str(tmp_path / "hub")),
        (hc, "HF_HUB_OFFLINE", False),
        (dc, "HF_ENDPOINT", endpoint),
        (dc, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"),
        (dc, "HF_DATASETS_CACHE", tmp_path / "datasets"),
        (dc, "HF_HUB_OFFLINE", False),
    ):
        monkeypatch.setattr(module, name, value)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
