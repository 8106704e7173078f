"""Results for people: tables, trees, `path:line:col` locations, progress.

Every function takes the typed result of its method (`axd.protocol.types`).
rich is imported lazily so `axd --json ...` and `axd --help` stay fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from axd.protocol import types as t

if TYPE_CHECKING:
    from types import TracebackType

    from axd.client.exchange import RemoteError


@dataclass(frozen=True, slots=True)
class Status:
    """`axd status`: the server and its workspaces."""

    server: t.ServerInfo
    workspaces: list[t.WorkspaceEntry]


@dataclass(frozen=True, slots=True)
class Flow:
    """`axd flow FILE`: a file's imports, importers and dependencies."""

    imports: list[t.ImportEdge]
    importers: list[t.Importer]
    dependencies: list[t.GraphPath]


def out(text: str, end: str = "\n") -> None:
    """A line of results on stdout."""
    sys.stdout.write(text + end)


def err(message: str) -> None:
    """One `axd: <message>` diagnostic line on stderr."""
    sys.stderr.write(f"axd: {message}\n")


def remote_error(exc: RemoteError) -> None:
    """A daemon error as one clear line (with the offending field, if any)."""
    data = exc.data if isinstance(exc.data, dict) else {}
    where = f" (field {data['field']})" if data.get("field") else ""
    err(f"{exc.message}{where} [{exc.kind}]")


def print_json(value: Any, *, compact: bool) -> None:
    """Indented JSON for people; one compact line with --json."""
    if compact:
        out(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    else:
        out(json.dumps(value, indent=2, ensure_ascii=False))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _loc(path: str, rng: t.Range) -> str:
    return f"{path}:{rng.start_line}:{rng.start_col + 1}"


def status(result: Status) -> None:
    from rich.table import Table

    info = result.server
    console = _console()
    console.print(
        f"axd {info.version} · pid {info.pid} · up {info.uptime_s:.0f} s · "
        f"metrics {info.metrics_url or 'off'}"
    )
    if not result.workspaces:
        console.print("no workspaces (add one with `axd add ROOT`)")
        return
    table = Table(
        "root", "state", "files", "chunks", "symbols", "generation", "last indexed"
    )
    for ws in result.workspaces:
        table.add_row(
            ws.root,
            ws.state,
            str(ws.files),
            str(ws.chunks),
            str(ws.symbols),
            str(ws.generation),
            ws.last_indexed_at or "-",
        )
    console.print(table)


def search(result: t.SearchResult) -> None:
    if not result.results:
        out("no results")
        return
    for hit in result.results:
        label = f" {hit.kind} {hit.symbol}" if hit.symbol else ""
        out(f"{_loc(hit.path, hit.range)}{label}  ({hit.score:.2f})")
        for line in (hit.snippet or "").splitlines()[:4]:
            out(f"    {line}")


def definitions(result: t.DefinitionResult) -> None:
    if not result.definitions:
        out("no definition found")
        return
    for d in result.definitions:
        out(f"{_loc(d.path, d.selection_range)}  {d.kind} {d.qualified_name}")
        if d.signature:
            out(f"    {d.signature}")


def references(result: t.ReferencesResult) -> None:
    if not result.references:
        out("no references found")
        return
    for r in result.references:
        out(f"{_loc(r.path, r.range)}  {r.kind:9}  {r.context}")


def outline(result: t.OutlineResult, path: str) -> None:
    from rich.tree import Tree

    tree = Tree(path)

    def add(node: Any, symbols: list[t.OutlineSymbol]) -> None:
        for s in symbols:
            branch = node.add(f"{s.kind} {s.name}  :{s.selection_range.start_line}")
            add(branch, s.children)

    add(tree, result.symbols)
    _console().print(tree)


def explain(result: t.FileExplanation) -> None:
    path = result.path
    if result.indexed:
        out(
            f"{path}: indexed as {result.language} at generation {result.generation}: "
            f"{result.chunks} chunks, {result.symbols} symbols, {result.parse_errors} parse errors"
        )
    elif result.rule is not None:
        rule = result.rule
        where = f"{rule.source}:{rule.line}" if rule.line else rule.source
        out(f"{path}: ignored by {where}: {rule.pattern}")
    elif result.queued:
        out(f"{path}: queued for indexing")
    else:
        detail = f" ({result.detail})" if result.detail else ""
        out(f"{path}: not indexed: {result.reason}{detail}")


def flow(result: Flow, path: str) -> None:
    from rich.tree import Tree

    tree = Tree(path)
    imports = tree.add("imports")
    for edge in result.imports:
        imports.add(f"{edge.module} → {edge.path or '(outside the workspace)'}")
    importers = tree.add("imported by")
    for importer in result.importers:
        importers.add(f"{importer.path}:{importer.range.start_line}")
    deps = tree.add("depends on (transitively)")
    for dep in result.dependencies:
        deps.add(f"{'  ' * (dep.depth - 1)}{dep.path} (depth {dep.depth})")
    _console().print(tree)


def change_note(method: str, note: object) -> None:
    """One line per changed path (`axd watch`)."""
    if isinstance(note, t.IndexChanged):
        for change in note.changes:
            out(f"{note.generation:>6}  {change.change:<8}  {change.path}")
    elif isinstance(note, t.IndexProgress):
        out(f"        {note.state:<8}  {note.files_indexed}/{note.files_total} files")
    else:
        out(f"{method} {json.dumps(note)}")


def cycles(result: t.CyclesResult) -> None:
    if not result.cycles:
        out("no import cycles")
        return
    for cycle in result.cycles:
        out(" → ".join([*cycle, cycle[0]]))


def health(result: t.HealthReport) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"status: {result.status}  (checked {result.checked_at})")
    table = Table("check", "status", "detail", "ms")
    for name, check in sorted(result.checks.items()):
        table.add_row(name, check.status, check.detail or "", f"{check.latency_ms:.1f}")
    console.print(table)


def toml_like(config: dict[str, Any]) -> None:
    top = {k: v for k, v in config.items() if not isinstance(v, dict)}
    for key, value in top.items():
        out(f"{key} = {json.dumps(value)}")
    for section, values in config.items():
        if isinstance(values, dict):
            _section(section, values)


def _section(name: str, values: dict[str, Any]) -> None:
    out(f"\n[{name}]")
    nested = {}
    for key, value in values.items():
        if isinstance(value, dict):
            nested[key] = value
        else:
            out(f"{key} = {json.dumps(value)}")
    for key, value in nested.items():
        _section(f"{name}.{key}", value)


class IndexingProgress:
    """A transient progress bar on stderr (files, files/s, ETA) for a first index."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.0f} files/s"),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = self._progress.add_task("index", total=None, rate=0.0)

    def __enter__(self) -> Self:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def update(self, indexed: int, total: int, rate: float) -> None:
        """Show `indexed` of `total` files at `rate` files/s."""
        self._progress.update(
            self._task, total=total or None, completed=indexed, rate=rate
        )
