"""Search relevance over the Python standard library: axd vs plain BM25.

The query set (``perf/queries_stdlib.json``) pairs developer questions, as
one would type them ("parse url query string"), with the definitions that
answer them (path relative to the stdlib root + qualified name or name; any
listed one counts). The stdlib's ``.py`` files (without ``site-packages``) are
copied to a temporary directory and indexed once by a real daemon; then for
each query:

* **axd**: ``search`` with ``limit: 10`` over the socket;
* **BM25**: the same chunks, queried straight from the workspace's SQLite
  file with FTS5 ``bm25()`` on the ``text`` column only (the chunk as
  written, no split identifiers, names or docstrings), no re-ranking, no
  dedup; the query's words AND'ed, or OR'ed when that finds nothing — what a
  naive user of the same index would get (axd falls back the same way).

A hit is right when its path is the expected file and its range contains the
expected definition's name line, or its ``symbol`` is the expected qualified
name. Reported: MRR@10 (1/rank of the first right hit, 0 past 10) and
recall@10, per split: a third of the queries (by CRC-32 of the text) is held
out — not looked at while tuning the ranking — and reported separately.

    .venv/bin/python perf/relevance.py [--stdlib DIR] [--json]
        [--show tune|heldout|all|none] [--state-dir DIR]

``--state-dir`` keeps the index between runs (the daemon is restarted each
run, so ranking changes take effect without re-indexing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from daemon_proc import Daemon

QUERIES = HERE / "queries_stdlib.json"
LIMIT = 10
GOAL = 0.30  # axd MRR@10 at least 30% above plain BM25


@dataclass(slots=True)
class Expected:
    """One acceptable answer, resolved to its lines in the index."""

    path: str
    symbol: str
    qualified: set[str] = field(default_factory=set)
    lines: set[int] = field(default_factory=set)  # name lines of its definitions


@dataclass(slots=True)
class Query:
    text: str
    expected: list[Expected]
    split: str  # "tune" or "heldout"
    ranks: dict[str, int | None] = field(default_factory=dict)
    top: dict[str, list[str]] = field(default_factory=dict)


def split_of(text: str) -> str:
    """A fixed third of the queries is held out (independent of file order)."""
    return "heldout" if zlib.crc32(text.encode()) % 3 == 0 else "tune"


def load_queries(path: Path) -> list[Query]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [
        Query(
            q["query"],
            [Expected(e["path"], e["symbol"]) for e in q["expected"]],
            split_of(q["query"]),
        )
        for q in doc["queries"]
    ]


def copy_stdlib(src: Path, dest: Path) -> int:
    """The stdlib's .py files without site-packages; the number copied."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        dirnames[:] = sorted(
            d for d in dirnames if d not in ("site-packages", "__pycache__")
        )
        for name in filenames:
            if name.endswith(".py"):
                target = dest / rel / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(dirpath) / name, target)
                count += 1
    return count


def resolve(daemon: Daemon, root: str, queries: list[Query]) -> list[str]:
    """Fill each expected answer's lines; problems with the query set."""
    problems = []
    for query in queries:
        for exp in query.expected:
            found = daemon.call(
                "symbols.definition",
                {"root": root, "name": exp.symbol, "path": exp.path},
            )["definitions"]
            found = [d for d in found if d["path"] == exp.path]
            exact = [d for d in found if d["qualified_name"] == exp.symbol]
            for d in exact or [d for d in found if d["name"] == exp.symbol]:
                exp.qualified.add(d["qualified_name"])
                exp.lines.add(d["selection_range"]["start_line"])
            if not exp.lines:
                problems.append(f"{query.text!r}: {exp.path} {exp.symbol} not found")
    return problems


def is_right(query: Query, path: str, start: int, end: int, symbol: str | None) -> bool:
    for exp in query.expected:
        if path != exp.path:
            continue
        if symbol is not None and symbol in exp.qualified:
            return True
        if any(start <= line <= end for line in exp.lines):
            return True
    return False


def rank_of(query: Query, hits: list[tuple[str, int, int, str | None]]) -> int | None:
    for i, (path, start, end, symbol) in enumerate(hits[:LIMIT], 1):
        if is_right(query, path, start, end, symbol):
            return i
    return None


def fts_words(text: str) -> list[str]:
    """The query's words as unicode61 sees them (letters and digits runs)."""
    out, word = [], []
    for ch in text + " ":
        if ch.isalnum():
            word.append(ch)
        elif word:
            out.append("".join(word))
            word = []
    return out


def bm25_hits(
    conn: apsw.Connection, text: str
) -> list[tuple[str, int, int, str | None]]:
    words = fts_words(text)
    if not words:
        return []
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    for joiner in (" AND ", " OR "):
        rows = conn.execute(
            "SELECT f.path, c.start_line, c.end_line FROM chunks_fts"
            " JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id"
            " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 1.0, 0.0, 0.0, 0.0)"
            " LIMIT ?",
            ("{text} : (" + joiner.join(quoted) + ")", LIMIT),
        ).fetchall()
        if rows:
            return [(str(p), int(s), int(e), None) for p, s, e in rows]
    return []


def metrics(queries: list[Query], system: str) -> dict[str, float]:
    ranks = [q.ranks[system] for q in queries]
    n = len(ranks) or 1
    return {
        "mrr": sum(1.0 / r for r in ranks if r) / n,
        "recall": sum(1 for r in ranks if r) / n,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    queries = load_queries(args.queries)
    base = Path(tempfile.mkdtemp(prefix="axd-rel-", dir="/tmp"))
    try:
        if args.state_dir:
            state = Path(args.state_dir)
            tree = state.parent / "stdlib"
        else:
            state, tree = base / "state", base / "stdlib"
        if not tree.exists():
            copied = copy_stdlib(Path(args.stdlib), tree)
        else:
            copied = sum(1 for _ in tree.rglob("*.py"))
        with Daemon(base, state) as daemon:
            started = time.perf_counter()
            added = daemon.call("workspace.add", {"root": str(tree)})
            status = daemon.wait(str(tree))
            index_s = time.perf_counter() - started
            root = added["root"]
            problems = resolve(daemon, root, queries)
            db = state / "workspaces" / added["id"] / "index.db"
            conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
            took = []
            for query in queries:
                result = daemon.call(
                    "search", {"root": root, "query": query.text, "limit": LIMIT}
                )
                took.append(result["took_ms"])
                hits = [
                    (h["path"], h["range"]["start_line"], h["range"]["end_line"],
                     h["symbol"])
                    for h in result["results"]
                ]  # fmt: skip
                query.ranks["axd"] = rank_of(query, hits)
                query.top["axd"] = [f"{p}:{s} {y}" for p, s, _, y in hits[:3]]
                base_hits = bm25_hits(conn, query.text)
                query.ranks["bm25"] = rank_of(query, base_hits)
                query.top["bm25"] = [f"{p}:{s}" for p, s, _, _ in base_hits[:3]]
            conn.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "files": copied,
        "indexed": status["files_indexed"],
        "index_s": round(index_s, 1),
        "search_took_ms_median": sorted(took)[len(took) // 2] if took else None,
        "problems": problems,
        "splits": {},
    }
    for name, subset in (
        ("tune", [q for q in queries if q.split == "tune"]),
        ("heldout", [q for q in queries if q.split == "heldout"]),
        ("all", queries),
    ):
        axd, bm25 = metrics(subset, "axd"), metrics(subset, "bm25")
        report["splits"][name] = {
            "queries": len(subset),
            "axd": axd,
            "bm25": bm25,
            "mrr_improvement": (axd["mrr"] / bm25["mrr"] - 1) if bm25["mrr"] else None,
        }
    report["queries"] = [
        {"query": q.text, "split": q.split, "ranks": q.ranks, "top": q.top}
        for q in queries
        if args.show == "all" or q.split == args.show
    ]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--state-dir", help="keep the index here between runs")
    parser.add_argument(
        "--show", choices=("tune", "heldout", "all", "none"), default="none",
        help="print per-query ranks for this split",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; {report['date']}")
    print(
        f"stdlib: {report['files']} files ({args.stdlib}), indexed "
        f"{report['indexed']} in {report['index_s']} s; search median took_ms "
        f"{report['search_took_ms_median']}"
    )
    for problem in report["problems"]:
        print("query set problem:", problem)
    for q in report["queries"]:
        r = q["ranks"]
        print(f"  [{q['split']:7}] axd {r['axd'] or '-':>2} bm25 {r['bm25'] or '-':>2}"
              f"  {q['query']!r}  axd top: {q['top']['axd']}")  # fmt: skip
    print(f"\n{'split':8} {'n':>4} {'axd MRR':>8} {'BM25 MRR':>9} {'gain':>7}"
          f" {'axd R@10':>9} {'BM25 R@10':>10}")  # fmt: skip
    for name, s in report["splits"].items():
        gain = s["mrr_improvement"]
        print(
            f"{name:8} {s['queries']:>4} {s['axd']['mrr']:>8.3f} "
            f"{s['bm25']['mrr']:>9.3f} "
            f"{'n/a' if gain is None else f'{gain:+.0%}':>7} "
            f"{s['axd']['recall']:>9.0%} {s['bm25']['recall']:>10.0%}"
        )
    print(f"goal: axd MRR@10 >= BM25 x {1 + GOAL:.2f} (ratio measured above)")


if __name__ == "__main__":
    main()
