"""Columns between axd (0-based UTF-8 byte offsets) and LSP (negotiated units).

axd ranges count lines from 1 and columns in bytes; LSP counts lines from 0 and
characters in the position encoding agreed at `initialize` (UTF-16 unless the
client offers UTF-8). A column can only be converted knowing its line's text:
for positions the client sends, that is the editor's buffer; for results, the
file on disk that the index was built from (`LineCache`).
"""

from __future__ import annotations

import os
from collections import OrderedDict

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def units(text: str, encoding: str) -> int:
    """Length of `text` in code units of `encoding`."""
    if text.isascii() or encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def byte_col_to_character(line: bytes | None, col: int, encoding: str) -> int:
    """The LSP character of byte column `col` in `line` (None: line unknown)."""
    if encoding == UTF8 or line is None:
        return col
    prefix = line[:col]
    if prefix.isascii():
        return col
    return units(prefix.decode("utf-8", "replace"), encoding)


def character_to_index(line: str, character: int, encoding: str) -> int:
    """The `str` index in `line` of LSP character `character` (clamped)."""
    if line.isascii() or encoding == UTF32:
        return max(0, min(character, len(line)))
    count = 0
    for index, ch in enumerate(line):
        if count >= character:
            return index
        count += units(ch, encoding)
    return len(line)


def index_to_character(line: str, index: int, encoding: str) -> int:
    """The LSP character of `str` index `index` in `line`."""
    return units(line[:index], encoding)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def word_at(line: str, index: int) -> tuple[str, int, int] | None:
    """The identifier touching `line[index]`: (word, start, end) str indices.

    A cursor just after the last character of a word still selects it, as
    editors place the cursor between characters.
    """
    start = end = max(0, min(index, len(line)))
    while start > 0 and _is_word(line[start - 1]):
        start -= 1
    while end < len(line) and _is_word(line[end]):
        end += 1
    word = line[start:end]
    if not word or word[0].isdigit():
        return None
    return word, start, end


class BufferLines:
    """Lines of the editor's buffers, split once per version of their text.

    pygls keeps each open document's text as one string and splits all of it
    on every `lines` access; a definition needs one line. The split is kept
    per document, valid while pygls holds the very same string (any edit
    builds a new one). Lines end at `\\n` (a `\\r` before it is dropped), as
    in the index; Unicode line separators do not end a line.
    """

    def __init__(self, documents: int = 64) -> None:
        self._capacity = documents
        self._split: OrderedDict[str, tuple[str, list[str]]] = OrderedDict()

    def line(self, uri: str, source: str, number: int) -> str | None:
        """Line `number` (0-based) of `source`, the text of `uri`; None if none."""
        cached = self._split.get(uri)
        if cached is not None and cached[0] is source:
            lines = cached[1]
            self._split.move_to_end(uri)
        else:
            lines = source.split("\n")
            self._split[uri] = (source, lines)
            while len(self._split) > self._capacity:
                self._split.popitem(last=False)
        if not 0 <= number < len(lines):
            return None
        return lines[number].removesuffix("\r")


# A file's identity for `LineCache`: (mtime_ns, size) from `stat`, or None for
# a file under a watched root, valid until the daemon reports it changed.
Key = tuple[int, int] | None

# The non-ASCII lines of a file by 1-based number (empty: all ASCII).
Wide = dict[int, bytes]
_ALL_ASCII: Wide = {}


class LineCache:
    """What column conversion needs of the files results point into.

    Only non-ASCII lines need converting (on an ASCII line byte columns are
    UTF-16 columns), so a file is kept as its non-ASCII lines alone: nothing
    for most files, a few lines for most others. Many files fit (a big
    workspace's results spread over thousands); the least recently used go
    when there are more than `files` or their lines pass `budget` bytes.

    A file under a watched root (one whose `index.changed` notifications
    reach `forget`) is read once and trusted until the daemon reports it
    changed: no `stat` per result, and columns are converted with the text
    the index was built from even while a newer save waits to be indexed.
    Any other file is checked with one `stat` per result.
    """

    def __init__(self, files: int = 50_000, budget: int = 32 << 20) -> None:
        self._capacity = files
        self._budget = budget
        self._held = 0  # bytes of the kept lines
        # by (daemon root, workspace-relative path): no path joined per result
        self._files: OrderedDict[tuple[str, str], tuple[Key, Wide]] = OrderedDict()

    def wide_lines(self, root: str, rel: str, *, watched: bool = False) -> Wide | None:
        """The non-ASCII lines of file `rel` of the workspace at `root`; None
        if there are none (or it is unreadable).

        `watched`: `root`'s changes reach `forget`.
        """
        key: Key = None
        if not watched:
            try:
                stat = os.stat(os.path.join(root, rel))
            except OSError:
                return None
            key = (stat.st_mtime_ns, stat.st_size)
        name = (root, rel)
        cached = self._files.get(name)
        if cached is not None and cached[0] == key:
            self._files.move_to_end(name)
            return cached[1] or None
        return self._read(name, key) or None

    def _read(self, name: tuple[str, str], key: Key) -> Wide:
        try:
            with open(os.path.join(*name), "rb") as handle:
                data = handle.read()
        except OSError:
            return _ALL_ASCII
        wide = _ALL_ASCII
        if not data.isascii():
            lines = data.split(b"\n")
            wide = {n: line for n, line in enumerate(lines, 1) if not line.isascii()}
        self._drop(name)
        self._files[name] = (key, wide)
        self._held += sum(map(len, wide.values()))
        while len(self._files) > self._capacity or self._held > self._budget:
            self._drop(next(iter(self._files)))
        return wide

    def _drop(self, name: tuple[str, str]) -> None:
        gone = self._files.pop(name, None)
        if gone is not None:
            self._held -= sum(map(len, gone[1].values()))

    def forget(self, root: str, rels: list[str]) -> None:
        """These files of `root` changed: read them again when next needed."""
        for rel in rels:
            self._drop((root, rel))

    def clear(self) -> None:
        """Forget every file (changes may have been missed)."""
        self._files.clear()
        self._held = 0
