"""Keeps ``imports.target_id`` right as files come and go.

Resolution is stored, not computed per query, so graph queries are index
walks. It must stay correct incrementally: inside the writer's transaction,
after a batch's rows are written, `relink` resolves

* every import of a file indexed in this batch;
* every import whose ``key`` (a path component all its possible targets
  share, see `resolve.import_key`) is a stem or directory name of a file
  added or removed in this batch — the only files that can change where it
  resolves;
* every import of the languages a configuration file affects
  (``tsconfig.json``, ``go.mod``, ``__init__.py``) below that file's
  directory, or in the whole workspace for one others may extend or name
  (``tsconfig.base.json``, ``Cargo.toml``, ``vendor/modules.txt``), when that
  file was added, changed or removed (`resolve.config_scope`).

A whole-index relink runs at the end of a first index, and once after a
start when the import rules changed since the index was linked
(`RULES_KEY`); then every import's key is recomputed too (`rekey`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from axd.daemon.index.resolve import (
    RULES_VERSION,
    config_scope,
    file_components,
    import_key,
    resolve_import,
)
from axd.daemon.store.chunktext import chunk_text

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import apsw

_MAX_CONFIG_BYTES = 1 << 20


# Paths the caches of a `DbFacts` may hold before they are emptied (`trim`):
# unbounded, the whole-index relink at the end of a 100k-file first index
# cached every file's path two or three times (ids, directory listings,
# basenames): ~100 MB of small objects in the daemon just before `ready`
# (#16 target 2). A bound of 65,536 paths is ~8 MB.
FACTS_CACHE_PATHS = 65_536


class DbFacts:
    """`resolve.Facts` over the files table, cached for one batch (or one
    step of `relink_all`, which calls `trim` between steps).

    Runs on the writer's connection inside its transaction, so it sees the
    batch's own rows. Configuration text comes from the indexed chunks, or
    from disk under `root` for files the index keeps no text of (go.mod).
    """

    def __init__(self, conn: apsw.Connection, root: Path | None) -> None:
        self._conn = conn
        self._root = root
        self._ids: dict[str, int | None] = {}
        self._dirs: dict[str, list[str]] = {}
        self._texts: dict[str, str | None] = {}
        # Resolvers ask for the same names over and over (every Java import
        # of a package looks up its class names): 697k lookups of far fewer
        # names when a 100k-file first index resolves its imports (#16).
        self._basenames: dict[str, list[str]] = {}
        self._held = 0  # paths (keys and listed) held by the caches

    def trim(self, limit: int | None = None) -> bool:
        """Empty the caches if they hold more than `limit` paths (default
        `FACTS_CACHE_PATHS`); True if so."""
        if self._held <= (FACTS_CACHE_PATHS if limit is None else limit):
            return False
        self._ids, self._dirs, self._texts, self._basenames = {}, {}, {}, {}
        self._held = 0
        return True

    def id_of(self, path: str) -> int | None:
        """The files.id of `path`, or None."""
        if path not in self._ids:
            row = self._conn.execute(
                "SELECT id FROM files WHERE path = ?", (path,)
            ).fetchone()
            self._ids[path] = None if row is None else int(row[0])
            self._held += 1
        return self._ids[path]

    def exists(self, path: str) -> bool:
        """Whether the workspace has a file row for `path`."""
        return self.id_of(path) is not None

    def list_dir(self, directory: str) -> list[str]:
        """Files directly in `directory`, sorted."""
        if directory not in self._dirs:
            if directory:
                prefix = directory + "/"
                rows = self._conn.execute(
                    "SELECT path FROM files WHERE path > ? AND path < ? ORDER BY path",
                    (prefix, directory + "0"),  # "0" sorts right after "/"
                )
            else:
                prefix = ""
                rows = self._conn.execute(
                    "SELECT path FROM files WHERE instr(path, '/') = 0 ORDER BY path"
                )
            listed = [str(p) for (p,) in rows if "/" not in str(p)[len(prefix) :]]
            self._dirs[directory] = listed
            self._held += 1 + len(listed)
        return self._dirs[directory]

    def by_basename(self, name: str) -> list[str]:
        """Every file named `name`."""
        found = self._basenames.get(name)
        if found is None:
            rows = self._conn.execute(
                "SELECT path FROM files WHERE basename = ?", (name,)
            )
            found = self._basenames[name] = [str(p) for (p,) in rows]
            self._held += 1 + len(found)
        return found

    def versions(self, name: str) -> list[tuple[str, str | None]]:
        """Every file named `name` with its content hash (not cached: what
        callers key their own caches on)."""
        rows = self._conn.execute(
            "SELECT path, content_hash FROM files WHERE basename = ? ORDER BY path",
            (name,),
        )
        return [(str(path), None if h is None else str(h)) for path, h in rows]

    def read_text(self, path: str) -> str | None:
        """A configuration file's text: from its chunks, else from disk."""
        if path not in self._texts:
            self._texts[path] = self._read(path)
            self._held += 1
        return self._texts[path]

    def _read(self, path: str) -> str | None:
        file_id = self.id_of(path)
        if file_id is not None:
            parts = [
                chunk_text(t, z)
                for t, z in self._conn.execute(
                    "SELECT text, ztext FROM chunks WHERE file_id = ?"
                    " ORDER BY start_byte",
                    (file_id,),
                )
            ]
            if parts:
                return "".join(parts)
        if self._root is None:
            return None
        try:
            target = self._root / path
            if target.stat().st_size > _MAX_CONFIG_BYTES:
                return None
            return target.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


def _config_scope(
    conn: apsw.Connection, config: str
) -> list[tuple[int, str, str, str]]:
    """The imports of `config`'s languages in files below its directory
    (everywhere for a config others extend: `resolve.config_scope`).

    The files by a range of the path index, then their imports by
    `imports_file`: 0.1-0.6 ms of CPU for a package's `__init__.py` in the
    100k-file index, where scanning every import of the language took
    12-17 ms, paid by every batch holding a saved `__init__.py`, `go.mod`,
    `Cargo.toml` or `tsconfig.json` (#16, bursts)."""
    scope = config_scope(config)
    if scope is None:
        return []
    directory, names = scope
    languages = json.dumps(sorted(names))
    if directory:
        # Every path starting with "dir/" sorts after it and before "dir0"
        # ("0" follows "/"), and only those (binary collation).
        rows = conn.execute(
            "SELECT i.id, i.module, f.path, i.language FROM files f"
            " CROSS JOIN imports i ON i.file_id = f.id"
            " WHERE f.path > ? AND f.path < ?"
            " AND i.language IN (SELECT value FROM json_each(?))",
            (directory + "/", directory + "0", languages),
        )
    else:
        rows = conn.execute(
            "SELECT i.id, i.module, f.path, i.language FROM imports i"
            " JOIN files f ON f.id = i.file_id"
            " WHERE i.language IN (SELECT value FROM json_each(?))",
            (languages,),
        )
    return [(int(a), str(b), str(c), str(d)) for a, b, c, d in rows]


def relink(
    conn: apsw.Connection,
    facts: DbFacts,
    *,
    new_file_ids: Iterable[int],
    added: Iterable[str],
    removed: Iterable[str],
    configs: Iterable[str],
) -> int:
    """Re-resolve every import this batch can have affected; returns how many."""
    todo: dict[int, tuple[str, str, str | None]] = {}
    ids = sorted(set(new_file_ids))
    if ids:
        for import_id, module, path, language in conn.execute(
            "SELECT i.id, i.module, f.path, i.language FROM imports i"
            " JOIN files f ON f.id = i.file_id"
            " WHERE i.file_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ):
            todo[int(import_id)] = (str(module), str(path), language)
    keys: set[str] = set()
    for path in (*added, *removed):
        keys |= file_components(path)
    if keys:
        for import_id, module, path, language in conn.execute(
            "SELECT i.id, i.module, f.path, i.language FROM imports i"
            " JOIN files f ON f.id = i.file_id"
            " WHERE i.key IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(keys)),),
        ):
            todo[int(import_id)] = (str(module), str(path), language)
    for config in sorted(set(configs)):
        for import_id, module, path, language in _config_scope(conn, config):
            todo[import_id] = (module, path, language)
    if not todo:
        return 0
    updates: list[tuple[int | None, int]] = []
    for import_id, (module, importer, language) in todo.items():
        target = resolve_import(module, importer, language, facts)
        updates.append((None if target is None else facts.id_of(target), import_id))
    conn.executemany(
        "UPDATE imports SET target_id = ? WHERE id = ? AND target_id IS NOT ?",
        [(t, i, t) for t, i in updates],
    )
    return len(updates)


# `meta` key: the `resolve.RULES_VERSION` the stored edges and keys follow:
# written when an index is created and by every whole-index relink
# (`Store.relink_all`). An index without it, or with another, is relinked
# once after a start (`Committer.refresh_links`).
RULES_KEY = "import_rules"


def rules_outdated(conn: apsw.Connection) -> bool:
    """Whether the stored edges were resolved with other import rules."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (RULES_KEY,)).fetchone()
    return row is None or row[0] != RULES_VERSION


def record_rules(conn: apsw.Connection) -> None:
    """Note that every edge follows the current rules (caller's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (RULES_KEY, RULES_VERSION),
    )


def rekey(conn: apsw.Connection) -> None:
    """Recompute every import's key under the current rules (a language may
    have gained some), in steps of `RELINK_STEP` (caller's transaction)."""
    after = -1
    while True:
        rows = conn.execute(
            "SELECT id, module, language, key FROM imports"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after, RELINK_STEP),
        ).fetchall()
        if not rows:
            return
        changed = [
            (new, cast("int", import_id))
            for import_id, module, language, key in rows
            if (
                new := import_key(
                    str(module), None if language is None else str(language)
                )
            )
            != key
        ]
        conn.executemany("UPDATE imports SET key = ? WHERE id = ?", changed)
        after = cast("int", rows[-1][0])


# Imports resolved per step of `relink_all`: its memory is one step's rows,
# not the whole index's (#16 target 2: ~700k imports at 100k files held
# ~150 MB of tuples in the daemon at the end of the first index).
RELINK_STEP = 8192


def relink_all(conn: apsw.Connection, facts: DbFacts) -> int:
    """Resolve every import in the index once (after a bulk first index).

    In steps of `RELINK_STEP` imports by id (in the caller's transaction):
    an UPDATE never runs under an open SELECT of the same table, and only a
    step's rows are held at a time; `facts`' caches are bounded between
    steps (`FACTS_CACHE_PATHS`).
    """
    count = 0
    after = -1
    while True:
        rows = conn.execute(
            "SELECT i.id, i.module, f.path, i.language FROM imports i"
            " JOIN files f ON f.id = i.file_id"
            " WHERE i.id > ? ORDER BY i.id LIMIT ?",
            (after, RELINK_STEP),
        ).fetchall()
        if not rows:
            return count
        updates: list[tuple[int | None, int, int | None]] = []
        for import_id, module, path, language in rows:
            language = None if language is None else str(language)
            target = resolve_import(str(module), str(path), language, facts)
            target_id = None if target is None else facts.id_of(target)
            updates.append((target_id, cast("int", import_id), target_id))
        conn.executemany(
            "UPDATE imports SET target_id = ? WHERE id = ? AND target_id IS NOT ?",
            updates,
        )
        count += len(rows)
        after = cast("int", rows[-1][0])
        facts.trim()
