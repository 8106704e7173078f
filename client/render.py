"""Results for people: tables, trees, `path:line:col` locations, progress.

rich is imported lazily so `axd --json ...` and `axd --help` stay fast.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from axd.client.connection import Client, RemoteError


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


def _loc(path: str, rng: dict[str, int]) -> str:
    return f"{path}:{rng['start_line']}:{rng['start_col'] + 1}"


def status(result: dict[str, Any]) -> None:
    from rich.table import Table

    info = result["server"]
    console = _console()
    console.print(
        f"axd {info['version']} · pid {info['pid']} · up {info['uptime_s']:.0f} s · "
        f"metrics {info.get('metrics_url') or 'off'}"
    )
    if not result["workspaces"]:
        console.print("no workspaces (add one with `axd add ROOT`)")
        return
    table = Table(
        "root", "state", "files", "chunks", "symbols", "generation", "last indexed"
    )
    for ws in result["workspaces"]:
        table.add_row(
            ws["root"],
            ws["state"],
            str(ws["files"]),
            str(ws["chunks"]),
            str(ws["symbols"]),
            str(ws["generation"]),
            ws.get("last_indexed_at") or "-",
        )
    console.print(table)


def search(result: dict[str, Any]) -> None:
    hits = result["results"]
    if not hits:
        out("no results")
        return
    for hit in hits:
        label = f" {hit['kind']} {hit['symbol']}" if hit.get("symbol") else ""
        out(f"{_loc(hit['path'], hit['range'])}{label}  ({hit['score']:.2f})")
        for line in (hit.get("snippet") or "").splitlines()[:4]:
            out(f"    {line}")


def definitions(result: dict[str, Any]) -> None:
    defs = result["definitions"]
    if not defs:
        out("no definition found")
        return
    for d in defs:
        out(
            f"{_loc(d['path'], d['selection_range'])}  {d['kind']} {d['qualified_name']}"
        )
        if d.get("signature"):
            out(f"    {d['signature']}")


def references(result: dict[str, Any]) -> None:
    refs = result["references"]
    if not refs:
        out("no references found")
        return
    for r in refs:
        out(f"{_loc(r['path'], r['range'])}  {r['kind']:9}  {r['context']}")


def outline(result: dict[str, Any], path: str) -> None:
    from rich.tree import Tree

    tree = Tree(path)

    def add(node: Any, symbols: list[dict[str, Any]]) -> None:
        for s in symbols:
            branch = node.add(
                f"{s['kind']} {s['name']}  :{s['selection_range']['start_line']}"
            )
            add(branch, s.get("children") or [])

    add(tree, result["symbols"])
    _console().print(tree)


def explain(result: dict[str, Any]) -> None:
    path = result["path"]
    if result["indexed"]:
        out(
            f"{path}: indexed as {result['language']} at generation {result['generation']}: "
            f"{result['chunks']} chunks, {result['symbols']} symbols, {result['parse_errors']} parse errors"
        )
    elif result.get("rule"):
        rule = result["rule"]
        where = (
            f"{rule['source']}:{rule['line']}" if rule.get("line") else rule["source"]
        )
        out(f"{path}: ignored by {where}: {rule['pattern']}")
    elif result.get("queued"):
        out(f"{path}: queued for indexing")
    else:
        detail = f" ({result['detail']})" if result.get("detail") else ""
        out(f"{path}: not indexed: {result.get('reason')}{detail}")


def flow(result: dict[str, Any], path: str) -> None:
    from rich.tree import Tree

    tree = Tree(path)
    imports = tree.add("imports")
    for item in result["imports"]:
        imports.add(f"{item['module']} → {item['path'] or '(outside the workspace)'}")
    importers = tree.add("imported by")
    for item in result["importers"]:
        importers.add(f"{item['path']}:{item['range']['start_line']}")
    deps = tree.add("depends on (transitively)")
    for item in result["dependencies"]:
        deps.add(f"{'  ' * (item['depth'] - 1)}{item['path']} (depth {item['depth']})")
    _console().print(tree)


def change_note(method: str, note: dict[str, Any]) -> None:
    """One line per changed path (`axd watch`)."""
    if method == "index.changed":
        for change in note["changes"]:
            out(f"{note['generation']:>6}  {change['change']:<8}  {change['path']}")
    elif method == "index.progress":
        out(
            f"        {note['state']:<8}  {note['files_indexed']}/{note['files_total']} files"
        )
    else:
        out(f"{method} {json.dumps(note)}")


def cycles(result: dict[str, Any]) -> None:
    found = result["cycles"]
    if not found:
        out("no import cycles")
        return
    for cycle in found:
        out(" → ".join([*cycle, cycle[0]]))


def health(result: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"status: {result['status']}  (checked {result['checked_at']})")
    table = Table("check", "status", "detail", "ms")
    for name, check in sorted(result["checks"].items()):
        table.add_row(
            name,
            check["status"],
            check.get("detail") or "",
            f"{check['latency_ms']:.1f}",
        )
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


def wait_with_progress(client: Client, root: str, *, quiet: bool) -> dict[str, Any]:
    """Wait for a workspace's first index; on a terminal, a progress bar fed
    by `index.progress` notifications (files/s, ETA)."""
    if quiet or not sys.stderr.isatty():
        return _wait_ready(client, root)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    client.call_raw("subscribe", {"root": root, "events": ["index.progress"]})
    columns = (
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.0f} files/s"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("index", total=None, rate=0.0)
        client.settimeout(1.0)
        while True:
            try:
                method, params = client.next_notification()
            except TimeoutError:
                method, params = "", b"{}"
            if method == "index.progress":
                note = json.loads(params)
                rate = note["files_indexed"] / max(time.monotonic() - started, 1e-3)
                progress.update(
                    task,
                    total=note["files_total"] or None,
                    completed=note["files_indexed"],
                    rate=rate,
                )
                if note["state"] == "indexing":
                    continue
            # A quiet second or a state change: ask where things stand.
            client.settimeout(60)
            status = json.loads(client.call_raw("index.status", {"root": root}))
            client.settimeout(1.0)
            if status["state"] != "indexing" and status["queue_depth"] == 0:
                client.settimeout(60)
                return status  # type: ignore[no-any-return]


def _wait_ready(client: Client, root: str) -> dict[str, Any]:
    from axd.client.connection import RemoteError

    while True:
        try:
            status = json.loads(
                client.call_raw("index.wait", {"root": root, "timeout_s": 30})
            )
        except RemoteError as exc:
            if exc.kind == "timeout":
                continue
            raise
        if status["state"] != "indexing":
            return status  # type: ignore[no-any-return]
