"""Automatic trace metadata: where the code that made a trace came from.

Computed once per process (the git lookup reads files under ``.git`` rather than running
``git``), then copied into every trace.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import sys
from pathlib import Path

from assay.entities.trace import metadata_keys

__all__ = ["source_metadata"]


@functools.cache
def source_metadata() -> dict[str, str]:
    """The metadata every trace of this process starts with."""
    from assay.version import __version__

    meta: dict[str, str] = {
        metadata_keys.SCHEMA_VERSION: "3",
        metadata_keys.ASSAY_VERSION: __version__,
        metadata_keys.SOURCE_TYPE: _source_type(),
    }
    name = _source_name()
    if name:
        meta[metadata_keys.SOURCE_NAME] = name
    # Some containers have no user name; that is not worth failing over.
    with contextlib.suppress(Exception):
        meta[metadata_keys.OS_USER] = getpass.getuser()
    meta.update(_git_metadata(Path.cwd()))
    return meta


def _source_type() -> str:
    if "ipykernel" in sys.modules:
        return "NOTEBOOK"
    return "LOCAL"


def _source_name() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path == "-c":
        return None
    return os.path.basename(path)


def _git_metadata(start: Path) -> dict[str, str]:
    git_dir = _find_git_dir(start)
    if git_dir is None:
        return {}
    meta: dict[str, str] = {}
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            meta[metadata_keys.GIT_BRANCH] = ref.removeprefix("refs/heads/")
            commit = _resolve_ref(git_dir, ref)
        else:
            commit = head
        if commit:
            meta[metadata_keys.GIT_COMMIT] = commit
        url = _remote_url(git_dir)
        if url:
            meta[metadata_keys.GIT_REPO_URL] = url
    except OSError:
        return meta
    return meta


def _find_git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = candidate.read_text().strip()
            if text.startswith("gitdir: "):
                return (directory / text[8:]).resolve()
    return None


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    loose = git_dir / ref
    if loose.is_file():
        return loose.read_text().strip()
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text().strip()).resolve()
        if (common / ref).is_file():
            return (common / ref).read_text().strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def _remote_url(git_dir: Path) -> str | None:
    config = git_dir / "config"
    if not config.is_file():
        return None
    in_origin = False
    for raw in config.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_origin = line == '[remote "origin"]'
        elif in_origin and line.startswith("url"):
            url = line.split("=", 1)[1].strip()
            # Never record credentials embedded in a remote URL.
            if "@" in url and "://" in url:
                scheme, rest = url.split("://", 1)
                url = f"{scheme}://{rest.split('@', 1)[1]}"
            return url
    return None
