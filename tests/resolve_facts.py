"""`resolve.Facts` over a dict of path → text, for resolver tests."""

from __future__ import annotations

import posixpath


class DictFacts:
    """`resolve.Facts` over a dict of path → text."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def exists(self, path: str) -> bool:
        return path in self.files

    def list_dir(self, directory: str) -> list[str]:
        return sorted(p for p in self.files if posixpath.dirname(p) == directory)

    def by_basename(self, name: str) -> list[str]:
        return [p for p in self.files if posixpath.basename(p) == name]

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def versions(self, name: str) -> list[tuple[str, str | None]]:
        return [
            (p, text)
            for p, text in sorted(self.files.items())
            if posixpath.basename(p) == name
        ]
