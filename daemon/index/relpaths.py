"""Workspace-relative path arithmetic for the import rules.

Paths are POSIX, relative to the workspace root, "" for the root itself;
`resolvers`, `tsconfig` and `cargo` share these.
"""

from __future__ import annotations

import posixpath

__all__ = ["ancestors", "join", "normalize"]


def join(*parts: str) -> str:
    """`parts` joined with "/", empty ones (the root) left out."""
    return "/".join(p for p in parts if p)


def ancestors(directory: str) -> list[str]:
    """`directory` and every directory above it, ending with the root ""."""
    out = [directory]
    while directory:
        directory = posixpath.dirname(directory)
        out.append(directory)
    return out


def normalize(path: str) -> str | None:
    """Normalise a joined relative path; None if it leaves the workspace."""
    norm = posixpath.normpath(path) if path else "."
    if norm == ".":
        return ""
    if norm.startswith(("../", "/")) or norm == "..":
        return None
    return norm
