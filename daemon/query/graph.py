"""The import graph: edges, transitive walks and cycles.

Edges are ``imports.target_id`` (kept resolved by the writer's linker), so a
walk is one indexed query per depth level. Cycles are the strongly connected
components of the whole resolved graph, found with an iterative Tarjan (no
recursion limit on deep graphs).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from axd.daemon.query.symbols import make_range
from axd.daemon.store.batch import GRAPH_GENERATION
from axd.protocol.types import GraphPath, ImportEdge, Importer

if TYPE_CHECKING:
    from collections.abc import Iterable

    import apsw

__all__ = [
    "cycles",
    "dependencies",
    "dependents",
    "importers",
    "imports",
    "strongly_connected",
]


def imports(conn: apsw.Connection, path: str) -> list[ImportEdge]:
    """The imports of `path` as written, with their resolved files."""
    rows = conn.execute(
        "SELECT i.module, t.path, i.start_line, i.start_col, i.end_line, i.end_col"
        " FROM imports i JOIN files f ON f.id = i.file_id"
        " LEFT JOIN files t ON t.id = i.target_id"
        " WHERE f.path = ? ORDER BY i.start_line, i.start_col, i.id",
        (path,),
    )
    return [
        ImportEdge(module=str(m), path=t, range=make_range(a, b, c, d))
        for m, t, a, b, c, d in rows
    ]


def importers(conn: apsw.Connection, path: str) -> list[Importer]:
    """Every import statement elsewhere that resolves to `path`."""
    rows = conn.execute(
        "SELECT f.path, i.module, i.start_line, i.start_col, i.end_line, i.end_col"
        " FROM files t JOIN imports i ON i.target_id = t.id"
        " JOIN files f ON f.id = i.file_id"
        " WHERE t.path = ? ORDER BY f.path, i.start_line, i.start_col",
        (path,),
    )
    return [
        Importer(path=str(p), module=str(m), range=make_range(a, b, c, d))
        for p, m, a, b, c, d in rows
    ]


_FORWARD = (
    "SELECT DISTINCT target_id FROM imports"
    " WHERE file_id IN (SELECT value FROM json_each(?)) AND target_id IS NOT NULL"
)
_BACKWARD = (
    "SELECT DISTINCT file_id FROM imports"
    " WHERE target_id IN (SELECT value FROM json_each(?))"
)


def _walk(
    conn: apsw.Connection, path: str, depth: int | None, step_sql: str
) -> list[GraphPath]:
    row = conn.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
    if row is None or (depth is not None and depth <= 0):
        return []
    start = int(row[0])
    seen = {start: 0}
    frontier = [start]
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt = [
            int(n)
            for (n,) in conn.execute(step_sql, (json.dumps(frontier),))
            if int(n) not in seen
        ]
        for node in nxt:
            seen[node] = level
        frontier = nxt
    del seen[start]
    paths = _paths(conn, seen)
    return sorted(
        (GraphPath(path=paths[n], depth=d) for n, d in seen.items() if n in paths),
        key=lambda g: (g.depth, g.path),
    )


def _paths(conn: apsw.Connection, ids: Iterable[int]) -> dict[int, str]:
    return {
        int(i): str(p)
        for i, p in conn.execute(
            "SELECT id, path FROM files WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
    }


def dependencies(
    conn: apsw.Connection, path: str, depth: int | None = None
) -> list[GraphPath]:
    """Files `path` imports, transitively; ``depth`` is the distance (BFS)."""
    return _walk(conn, path, depth, _FORWARD)


def dependents(
    conn: apsw.Connection, path: str, depth: int | None = None
) -> list[GraphPath]:
    """Files that import `path`, transitively; ``depth`` is the distance."""
    return _walk(conn, path, depth, _BACKWARD)


def strongly_connected(successors: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's SCCs, iteratively; every node of `successors` (keys) is a node."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in successors:
        if root in index:
            continue
        # Each frame: (node, iterator position into its successor list).
        work: list[tuple[int, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pos = work[-1]
            edges = successors.get(node, ())
            if pos < len(edges):
                work[-1] = (node, pos + 1)
                nxt = edges[pos]
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _cycle_order(
    members: set[int], successors: dict[int, list[int]], names: dict[int, str]
) -> list[str]:
    """Members in DFS preorder from the smallest path, successors by path.

    For a simple cycle that is exactly the cycle's order.
    """
    start = min(members, key=lambda n: names[n])
    order: list[int] = []
    seen: set[int] = set()
    work = [start]
    while work:
        node = work.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        nexts = sorted(
            (n for n in successors.get(node, ()) if n in members),
            key=lambda n: names[n],
        )
        work.extend(reversed(nexts))
    return [names[n] for n in order]


# Cycles of recent import graphs: (db file, inode, graph identity) -> every
# cycle. The identity is the generation that last changed the graph
# (`batch.GRAPH_GENERATION`): a save that leaves every import alone keeps
# it, so an editor polling `graph.cycles` while files are being re-indexed
# pays the whole-graph walk (~0.4 s of the GIL at 100,000 files) only when an
# import changed. Without the key (an index from before it): per generation.
_CYCLES_CACHE: OrderedDict[tuple[object, ...], list[list[str]]] = OrderedDict()
_CYCLES_CACHE_SIZE = 8
_cycles_lock = threading.Lock()


def _state_key(conn: apsw.Connection) -> tuple[object, ...] | None:
    """What identifies the import graph `conn` reads, or None (no caching)."""
    name = conn.filename
    if not name:
        return None
    try:
        inode = os.stat(name).st_ino
    except OSError:
        return None
    row = conn.execute(
        "SELECT (SELECT value FROM meta WHERE key = ?),"
        " (SELECT value FROM meta WHERE key = 'generation'),"
        " (SELECT max(id) FROM files), (SELECT max(id) FROM imports)",
        (GRAPH_GENERATION,),
    ).fetchone()
    if row is None:
        return None
    graph_generation, *state = row
    if graph_generation is not None:
        return (name, inode, "graph", graph_generation)
    return (name, inode, "generation", *state)


def cycles(conn: apsw.Connection, limit: int = 100) -> list[list[str]]:
    """Import cycles: each SCC of ≥ 2 files, or a file importing itself, once.

    Sorted by their first path (the smallest in the cycle); at most `limit`.
    Computed once per import graph (`_state_key`) and kept for the next calls.
    """
    if limit <= 0:
        return []
    key = _state_key(conn)
    if key is not None:
        with _cycles_lock:
            cached = _CYCLES_CACHE.get(key)
            if cached is not None:
                _CYCLES_CACHE.move_to_end(key)
                return [list(c) for c in cached[:limit]]
    found = _all_cycles(conn)
    if key is not None:
        with _cycles_lock:
            _CYCLES_CACHE[key] = found
            while len(_CYCLES_CACHE) > _CYCLES_CACHE_SIZE:
                _CYCLES_CACHE.popitem(last=False)
    return [list(c) for c in found[:limit]]


def _all_cycles(conn: apsw.Connection) -> list[list[str]]:
    successors: dict[int, list[int]] = {}
    self_loops: set[int] = set()
    for source, target in conn.execute(
        "SELECT DISTINCT file_id, target_id FROM imports WHERE target_id IS NOT NULL"
    ):
        if source == target:
            self_loops.add(int(source))
        else:
            successors.setdefault(int(source), []).append(int(target))
    components = [c for c in strongly_connected(successors) if len(c) > 1]
    in_cycles = {n for c in components for n in c}
    components += [[n] for n in sorted(self_loops - in_cycles)]
    if not components:
        return []
    names = _paths(conn, {n for c in components for n in c})
    found = [_cycle_order(set(c), successors, names) for c in components]
    found.sort(key=lambda c: (c[0], len(c), c))
    return found
