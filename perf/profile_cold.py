"""Where a cold index spends its time and its bytes: a serial model of the
per-file work on a tree, in one process, in CPU seconds (``process_time``, so
other users' load on a shared machine inflates it less than wall time).

For every ``--every``-th file of the tree (all by default):

* **worker side**: ``worker.process_file`` (read, classify, hash, parse,
  extract: what a worker process does), and inside it the tree-sitter parse
  alone (``parser.parse`` of the same bytes, timed separately);
* **IPC**: msgpack encode (worker) and decode (daemon) of the outcomes in
  batches of ``--batch`` (the daemon's default ``batch_files``, 128);
* **writer**: ``Store.apply_batch(..., defer_links=True)`` per batch into a
  fresh database, then ``Store.relink_all()`` once, as a cold index does.
  The writer's SQL is timed per statement with SQLite's profile hook
  (apsw's exec tracer before, SQLite's profile hook after each statement:
  the writer thread's CPU time in between; SQL time includes FTS5 tokenising
  and B-tree inserts, and the FTS5 segment flush shows under COMMIT); the Python helpers that split identifiers for the FTS
  ``terms``/``names`` columns and the camel-hump ``initials`` are timed by
  calling them on the same inputs, in the same order, with a cold cache;
* **bytes**: ``dbstat`` per table and index, against the source bytes;
* **FTS variants** (``--fts-variants``): the same FTS rows inserted into
  fresh FTS5 tables with ``detail=full`` (as now), ``detail=column``,
  ``detail=none``, and without the ``terms`` column: size and insert time.

    .venv/bin/python perf/profile_cold.py ROOT [--every N] [--batch 128]
        [--fts-variants] [--json FILE]

Prints seconds and shares; asserts nothing. Measurement only: it imports the
daemon's modules and calls them as the daemon does, changing none of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 2 * 1024 * 1024


def cpu() -> float:
    return time.process_time()


def statement_kind(sql: str) -> str:
    s = " ".join(sql.split())[:60].upper()
    for key in (
        "CHUNKS_FTS",
        "INTO CHUNKS",
        "INTO SYMBOLS",
        "INTO REFS",
        "INTO IMPORTS",
    ):
        if key in s:
            return "insert " + key.split()[-1].lower()
    if s.startswith("INSERT INTO FILES"):
        return "upsert files"
    if s.startswith(("COMMIT", "BEGIN")):
        return s.split()[0].lower()
    if "IMPORTS" in s:
        return "imports (relink)"
    return "other"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--fts-variants", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--cprofile-worker",
        type=int,
        default=0,
        metavar="N",
        help="only cProfile process_file on the sample and print the top N functions",
    )
    parser.add_argument(
        "--time-function",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="also charge the CPU spent inside this module-level function during"
        " the worker phase (e.g. axd.daemon.index.extract:_outer); repeatable",
    )
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"skipped: no tree at {args.root}")
        return 0

    import msgspec
    from tree_sitter_language_pack import get_parser

    from axd.daemon.index import derive as derive_mod
    from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
    from axd.daemon.records import FileOutcome
    from axd.daemon.store import fts
    from axd.daemon.store.store import Store

    root = str(args.root.resolve())
    settings = WorkerSettings(
        root=root,
        max_file_bytes=MAX_FILE_BYTES,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )
    paths: list[str] = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "node_modules"))
        rel_dir = os.path.relpath(current, root)
        paths.extend(
            name if rel_dir == "." else f"{rel_dir}/{name}" for name in sorted(names)
        )
    paths = paths[:: args.every]
    if args.cprofile_worker:
        return cprofile_worker(settings, paths, args.cprofile_worker)
    out: dict[str, Any] = {
        "root": root,
        "every": args.every,
        "files": len(paths),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}",
        "load_start": Path("/proc/loadavg").read_text().split()[:3],
    }

    # -- worker side ---------------------------------------------------------------------
    timed = {spec: time_inside(spec) for spec in args.time_function}
    parsers: dict[str, Any] = {}
    outcomes: list[FileOutcome] = []
    t_process = t_parse = 0.0
    wall0 = time.perf_counter()
    for rel in paths:
        c0 = cpu()
        outcome = process_file(settings, WorkItem(path=rel))
        t_process += cpu() - c0
        outcomes.append(outcome)
        if outcome.status != "indexed" or outcome.language is None:
            continue
        language = outcome.language
        if language not in parsers:
            try:
                parsers[language] = get_parser(language)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001
                parsers[language] = None
        ts_parser = parsers[language]
        if ts_parser is None:
            continue
        with open(os.path.join(root, rel), "rb") as handle:
            data = handle.read()
        c0 = cpu()
        ts_parser.parse(data)
        t_parse += cpu() - c0
    worker_wall = time.perf_counter() - wall0
    out["timed_functions"] = {spec: box.pop() for spec, box in timed.items()}
    indexed = [o for o in outcomes if o.status == "indexed"]
    source_bytes = sum(o.size for o in indexed)

    # -- IPC -----------------------------------------------------------------------------
    encoder = msgspec.msgpack.Encoder()
    decoder = msgspec.msgpack.Decoder(list[FileOutcome])
    batches = [
        outcomes[i : i + args.batch] for i in range(0, len(outcomes), args.batch)
    ]
    c0 = cpu()
    blobs = [encoder.encode(b) for b in batches]
    t_encode = cpu() - c0
    c0 = cpu()
    decoded = [decoder.decode(b) for b in blobs]
    t_decode = cpu() - c0
    blob_bytes = [len(b) for b in blobs]
    del blobs

    # -- the FTS/initials helpers alone, cold cache, same inputs ----------------------------
    fts._token_terms.cache_clear()
    c0 = cpu()
    for o in indexed:
        ex = o.extraction
        assert ex is not None
        for chunk in ex.chunks:
            fts.compound_terms(chunk.text)
    t_compound = cpu() - c0
    c0 = cpu()
    for o in indexed:
        ex = o.extraction
        assert ex is not None
        fts.name_terms(s.name for s in ex.symbols)
        for s in ex.symbols:
            derive_mod.initials(s.name)
    t_names = cpu() - c0
    fts._token_terms.cache_clear()

    # -- writer ------------------------------------------------------------------------------
    workdir = Path(tempfile.mkdtemp(prefix="axdprof-", dir="/tmp"))
    # Each statement is charged the writer thread's CPU from apsw's exec
    # tracer (called before it runs; executemany calls it once per row) to
    # SQLite's profile hook (called when it finishes): CPU, not wall time, so
    # other users' load on the machine does not inflate it.
    sql_cpu: dict[str, float] = defaultdict(float)
    sql_calls: dict[str, int] = defaultdict(int)
    began: list[Any] = [0.0, ""]

    def trace(_cursor: Any, sql: str, _bindings: Any) -> bool:
        began[0], began[1] = time.thread_time(), sql.strip()
        return True

    def profile(statement: str, _runtime_ns: int) -> None:
        if statement.strip() != began[1]:
            return  # a statement FTS5 runs inside the traced one
        kind = statement_kind(statement)
        sql_cpu[kind] += time.thread_time() - began[0]
        sql_calls[kind] += 1

    try:
        store = Store.open(workdir / "index.db", root=root)
        writer = store._w()
        writer.set_profile(profile)
        writer.exec_trace = trace
        per_batch: list[float] = []
        c0, w0 = cpu(), time.perf_counter()
        for b in decoded:
            cb = cpu()
            store.apply_batch(b, defer_links=True)
            per_batch.append(cpu() - cb)
        t_write = cpu() - c0
        write_wall = time.perf_counter() - w0
        c0 = cpu()
        store.relink_all()
        t_relink = cpu() - c0
        writer.set_profile(None)
        writer.exec_trace = None
        store.checkpoint()
        conn = writer
        tables = list(
            conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            )
        )
        rows = {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("files", "chunks", "symbols", "refs", "imports")
        }
        column_bytes = {
            # Since migration 0002: chunk text compressed, no reference context.
            "chunks.ztext": "SELECT SUM(length(ztext)) FROM chunks",
            "symbols.signature": "SELECT SUM(length(CAST(signature AS BLOB))) FROM symbols",
            "symbols.docstring": "SELECT SUM(length(CAST(docstring AS BLOB))) FROM symbols",
            "symbols.qualified_name": (
                "SELECT SUM(length(CAST(qualified_name AS BLOB))) FROM symbols"
            ),
        }
        col = {k: conn.execute(q).fetchone()[0] or 0 for k, q in column_bytes.items()}
        variants: dict[str, dict[str, float]] = {}
        if args.fts_variants:
            variants = fts_variants(conn, fts, workdir)
        store.close()
        db_bytes = sum(p.stat().st_size for p in workdir.iterdir() if p.is_file())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    sql_total_s = sum(sql_cpu.values())
    out.update(
        {
            "indexed": len(indexed),
            "source_bytes": source_bytes,
            "worker_wall_s": worker_wall,
            "cpu_s": {
                "process_file": t_process,
                "parse": t_parse,
                "extract_rest": t_process - t_parse,
                "ipc_encode": t_encode,
                "ipc_decode": t_decode,
                "write": t_write,
                "relink_all": t_relink,
            },
            "write_wall_s": write_wall,
            "write_helpers_cpu_s": {
                "compound_terms": t_compound,
                "names+initials": t_names,
            },
            "sql_cpu_s": dict(sorted(sql_cpu.items(), key=lambda kv: -kv[1])),
            "sql_calls": dict(sql_calls),
            "sql_total_s": sql_total_s,
            "batches": len(per_batch),
            "batch_cpu_first_last_quarter": [
                sum(per_batch[: max(1, len(per_batch) // 4)])
                / max(1, len(per_batch) // 4),
                sum(per_batch[-max(1, len(per_batch) // 4) :])
                / max(1, len(per_batch) // 4),
            ],
            "blob_bytes_max": max(blob_bytes, default=0),
            "blob_bytes_total": sum(blob_bytes),
            "db_bytes": db_bytes,
            "tables": tables,
            "rows": rows,
            "column_bytes": col,
            "fts_variants": variants,
            "load_end": Path("/proc/loadavg").read_text().split()[:3],
        }
    )
    print_report(out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


def time_inside(spec: str) -> list[Any]:
    """Wrap `module:function` so the CPU spent inside it adds up; returns a
    box whose last item is a dict the wrapper fills (calls, cpu_s, worst file)."""
    import importlib

    module_name, _, name = spec.partition(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    totals: dict[str, Any] = {"calls": 0, "cpu_s": 0.0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = cpu()
        try:
            return original(*args, **kwargs)
        finally:
            totals["calls"] += 1
            totals["cpu_s"] += cpu() - started

    setattr(module, name, wrapper)
    return [totals]


def cprofile_worker(settings: Any, paths: list[str], top: int) -> int:
    """cProfile of the worker's per-file work: where extraction spends it."""
    import cProfile
    import pstats

    from axd.daemon.index.worker import WorkItem, process_file

    profiler = cProfile.Profile()
    c0 = cpu()
    profiler.enable()
    for rel in paths:
        process_file(settings, WorkItem(path=rel))
    profiler.disable()
    total = cpu() - c0
    stats = pstats.Stats(profiler)
    rows = stats.stats  # type: ignore[attr-defined]
    print(f"process_file on {len(paths)} files: {total:.2f} s CPU under cProfile")
    for key, label in ((2, "own time (tottime)"), (3, "cumulative")):
        print(f"\nTop {top} by {label}:")
        ranked = sorted(rows.items(), key=lambda kv: -kv[1][key])[:top]
        for (file, line, func), value in ranked:
            where = f"{file.rsplit('/', 1)[-1]}:{line}" if line else file
            print(
                f"  {value[key]:7.2f} s {100 * value[key] / total:5.1f}%"
                f"  {value[1]:9d} calls  {func} ({where})"
            )
    return 0


def fts_variants(conn: Any, fts: Any, workdir: Path) -> dict[str, dict[str, float]]:
    """Size and insert time of the same FTS rows under other FTS5 options.

    Rows rebuilt from the index: chunk text, its compound terms, the names
    and docstrings of the symbols whose name lies in the chunk (the writer's
    mapping, read back from ``symbols.chunk_id``).
    """
    import apsw

    names: dict[int, list[str]] = defaultdict(list)
    docs: dict[int, list[str]] = defaultdict(list)
    for chunk_id, name, doc in conn.execute(
        "SELECT chunk_id, name, docstring FROM symbols WHERE chunk_id IS NOT NULL ORDER BY id"
    ):
        names[chunk_id].append(name)
        if doc:
            docs[chunk_id].append(doc)
    rows = [
        (
            cid,
            text,
            fts.compound_terms(text),
            fts.name_terms(names[cid]),
            "\n".join(docs[cid]),
        )
        for cid, text in conn.execute("SELECT id, text FROM chunks ORDER BY id")
    ]
    base = "content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'"
    specs = {
        "detail=full (as now)": ("text, terms, names, docstrings", base),
        "detail=column": ("text, terms, names, docstrings", base + ", detail = column"),
        "detail=none": ("text, terms, names, docstrings", base + ", detail = none"),
        "no terms column": ("text, names, docstrings", base),
    }
    out: dict[str, dict[str, float]] = {}
    for label, (columns, options) in specs.items():
        path = workdir / f"fts-{len(out)}.db"
        db = apsw.Connection(str(path))
        db.execute(f"CREATE VIRTUAL TABLE f USING fts5 ({columns}, {options})")
        values = (
            rows if "terms" in columns else [(r[0], r[1], r[3], r[4]) for r in rows]
        )
        marks = ",".join("?" * (len(values[0]) if values else 5))
        t0 = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO f (rowid, {columns}) VALUES ({marks})", values)
        db.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        size = db.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
        db.close()
        out[label] = {"insert_s": elapsed, "bytes": size}
        path.unlink()
    return out


def print_report(o: dict[str, Any]) -> None:
    c = o["cpu_s"]
    pipeline = c["process_file"] + c["ipc_encode"] + c["ipc_decode"] + c["write"]
    pipeline += c["relink_all"]
    print(
        f"{o['root']}: {o['files']} files (every {o['every']}), {o['indexed']} indexed,"
        f" {o['source_bytes'] / 1e6:.1f} MB of source. Machine: {o['machine']};"
        f" load {' '.join(o['load_start'])} -> {' '.join(o['load_end'])}."
    )
    print(f"\nCPU seconds of the per-file work, serial (total {pipeline:.1f} s):")
    for spec, t in o.get("timed_functions", {}).items():
        print(
            f"  (inside {spec}: {t['cpu_s']:.2f} s in {t['calls']} calls,"
            f" {100 * t['cpu_s'] / c['process_file']:.0f}% of process_file)"
        )
    for key, label in (
        ("parse", "tree-sitter parse"),
        (
            "extract_rest",
            "rest of process_file (read, classify, hash, queries, chunks)",
        ),
        ("ipc_encode", "msgpack encode (worker)"),
        ("ipc_decode", "msgpack decode (daemon event loop / thread)"),
        ("write", "Store.apply_batch, all batches (the one writer)"),
        ("relink_all", "relink_all once at the end"),
    ):
        print(f"  {label:64} {c[key]:7.2f} s  {100 * c[key] / pipeline:4.0f}%")
    w = c["write"]
    h = o["write_helpers_cpu_s"]
    print(
        f"\nInside the writer ({w:.2f} s CPU, {o['write_wall_s']:.2f} s wall,"
        f" {o['batches']} batches; per batch first -> last quarter"
        f" {o['batch_cpu_first_last_quarter'][0] * 1000:.0f} ->"
        f" {o['batch_cpu_first_last_quarter'][1] * 1000:.0f} ms):"
    )
    print(
        f"  {'compound_terms (FTS terms column, Python)':64} {h['compound_terms']:7.2f} s"
        f"  {100 * h['compound_terms'] / w:4.0f}%"
    )
    print(
        f"  {'name_terms + initials (Python)':64} {h['names+initials']:7.2f} s"
        f"  {100 * h['names+initials'] / w:4.0f}%"
    )
    for kind, secs in o["sql_cpu_s"].items():
        print(
            f"  SQL {kind + ' (' + str(o['sql_calls'][kind]) + ' runs)':60} {secs:7.2f} s"
            f"  {100 * secs / w:4.0f}%"
        )
    rest = w - o["sql_total_s"] - h["compound_terms"] - h["names+initials"]
    print(
        f"  {'rest (row tuples, Python glue)':64} {rest:7.2f} s  {100 * rest / w:4.0f}%"
    )
    src = o["source_bytes"]
    print(
        f"\nIndex {o['db_bytes'] / 1e6:.1f} MB for {src / 1e6:.1f} MB of source"
        f" ({o['db_bytes'] / max(1, src):.2f}x). By table/index (dbstat):"
    )
    for name, size in o["tables"][:14]:
        print(f"  {name:28} {size / 1e6:8.1f} MB  {size / max(1, src):5.2f}x source")
    print(f"  rows: {o['rows']}")
    print(
        "  column bytes: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in o["column_bytes"].items())
    )
    print(
        f"  IPC: {o['blob_bytes_total'] / 1e6:.1f} MB of msgpack in total,"
        f" largest batch {o['blob_bytes_max'] / 1e6:.1f} MB"
    )
    if o["fts_variants"]:
        print("\nFTS5 options, same rows:")
        for label, v in o["fts_variants"].items():
            print(
                f"  {label:24} {v['bytes'] / 1e6:8.1f} MB  insert {v['insert_s']:.2f} s"
            )


if __name__ == "__main__":
    sys.exit(main())
