"""A results folder's manifest: which files it holds, their sizes and SHA-256 digests.

``manifest.json`` is written last (atomically) by whoever completes a folder, so its
presence says "complete" and its digests say "unchanged since". A folder is reused
only if :func:`check_manifest` finds nothing wrong; otherwise its writer recomputes,
with a one-line :func:`notice` saying why::

    results/jacobian_decay/torch-seed0-smoke: data.npz changed since it was written (digest mismatch): recomputing

The digests catch accidents (a truncated copy, a killed writer, a file edited or swapped
by hand), not an adversary, who could rewrite the manifest as well.
"""
from __future__ import annotations

import logging
import os

from .io import file_sha256, read_json, write_json

MANIFEST = "manifest.json"
_LOG = logging.getLogger("rnnflow")


def notice(message: str) -> None:
    """Tell the user something was not reused, in one line: a warning of the ``"rnnflow"``
    logger (printed as is on stderr when logging is not configured)."""
    _LOG.warning(message)


def write_manifest(folder, names) -> None:
    """Write ``folder/manifest.json``: ``{"files": {name: {"size": bytes, "sha256": hex}}}``
    for each of ``names`` (paths relative to ``folder``, ``/``-separated). Call it last."""
    folder = os.fspath(folder)
    files = {}
    for name in sorted(set(names)):
        path = os.path.join(folder, *name.split("/"))
        files[name] = {"size": os.path.getsize(path), "sha256": file_sha256(path)}
    write_json(os.path.join(folder, MANIFEST), {"files": files})


def remove_manifest(folder) -> None:
    """Delete ``folder/manifest.json`` (before a writer changes a completed folder)."""
    try:
        os.remove(os.path.join(os.fspath(folder), MANIFEST))
    except FileNotFoundError:
        pass


def manifest_files(folder) -> dict | None:
    """``{name: {"size", "sha256"}}`` from ``folder/manifest.json``, or None if unreadable."""
    try:
        files = read_json(os.path.join(os.fspath(folder), MANIFEST))["files"]
    except Exception:   # missing, truncated, not JSON, not our layout: all "no manifest"
        return None
    return files if isinstance(files, dict) else None


def check_manifest(folder) -> str | None:
    """None if every file ``folder/manifest.json`` lists is there with its size and digest;
    otherwise what is wrong, in words (the first problem found)."""
    folder = os.fspath(folder)
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return f"{MANIFEST} missing (the folder was not completed)"
    files = manifest_files(folder)
    if files is None:
        return f"{MANIFEST} unreadable"
    for name, want in sorted(files.items()):
        p = os.path.join(folder, *str(name).split("/"))
        if ".." in str(name).split("/") or os.path.isabs(str(name)):
            return f"{MANIFEST} lists {name!r}, a path outside the folder"
        if not os.path.isfile(p):
            return f"{name} missing"
        try:
            size, digest = int(want["size"]), str(want["sha256"])
        except (KeyError, TypeError, ValueError):
            return f"{MANIFEST} unreadable (entry {name!r})"
        if os.path.getsize(p) != size:
            return (f"{name} changed since it was written (size {os.path.getsize(p)} bytes, "
                    f"{size} when written)")
        if file_sha256(p) != digest:
            return f"{name} changed since it was written (digest mismatch)"
    return None
