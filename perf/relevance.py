"""Search relevance: axd vs plain BM25 over the same chunks, same run.

Two query sets:

* ``--set stdlib`` (``perf/queries_stdlib.json``): developer questions over
  the Python standard library, whose ``.py`` files (without
  ``site-packages``) are copied to a temporary directory;
* ``--set repos`` (``perf/queries_repos.json``): 150 queries over five pinned
  real repositories in Go, Java, Ruby, Rust and C++ (perf/corpora.py), two
  thirds natural-language questions written from reading their code (kind
  ``nl``), one third partial identifiers (kind ``identifier``). A repository
  not on this machine is skipped with a note (its queries are left out).

Each query pairs a question with the definitions that answer it (path
relative to the tree's root + qualified name or name; any listed one
counts). Each tree is indexed once by a real daemon; then for each query:

* **axd**: ``search`` with ``limit: 10`` over the socket;
* **BM25**: the same chunks, queried straight from the workspace's SQLite
  file with FTS5 ``bm25()`` on the ``text`` column only (the chunk as
  written, no split identifiers, names or docstrings), no re-ranking, no
  dedup; the query's words AND'ed, or OR'ed when that finds nothing — what a
  naive user of the same index would get (axd falls back the same way).

A hit is right when its path is the expected file and its range contains the
expected definition's name line, or its ``symbol`` is the expected qualified
name. Reported: MRR@10 (1/rank of the first right hit, 0 past 10) and
recall@1 and recall@10, per split and per kind: a third of the queries (by
CRC-32 of the text) is held out — not looked at while tuning the ranking —
and reported separately; search p50/p95 ``took_ms`` too.

    .venv/bin/python perf/relevance.py [--set stdlib|repos] [--stdlib DIR]
        [--json] [--show tune|heldout|all|none] [--state-dir DIR]

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
import corpora
from daemon_proc import Daemon

QUERIES = HERE / "queries_stdlib.json"
REPO_QUERIES = HERE / "queries_repos.json"
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
    tree: str = "stdlib"  # which indexed tree: "stdlib" or a corpus repo
    kind: str = "nl"  # "nl" (a question) or "identifier" (part of a name)
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
            q.get("repo", "stdlib"),
            q.get("kind", "nl"),
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
        "recall1": sum(1 for r in ranks if r == 1) / n,
    }


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def trees_for(
    args: argparse.Namespace, queries: list[Query], base: Path
) -> dict[str, Path]:
    """The tree each query set needs: the stdlib copy, or the corpora."""
    if args.set == "stdlib":
        tree = (
            Path(args.state_dir).parent / "stdlib"
            if args.state_dir
            else base / "stdlib"
        )
        if not tree.exists():
            copy_stdlib(Path(args.stdlib), tree)
        return {"stdlib": tree}
    wanted = {q.tree for q in queries}
    out: dict[str, Path] = {}
    for corpus in corpora.CORPORA:
        if corpus.repo in wanted:
            tree = corpora.ensure(corpus)
            if tree is not None:
                out[corpus.repo] = tree
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    queries = load_queries(
        args.queries or (REPO_QUERIES if args.set == "repos" else QUERIES)
    )
    base = Path(tempfile.mkdtemp(prefix="axd-rel-", dir="/tmp"))
    took: list[float] = []
    problems: list[str] = []
    indexed: dict[str, int] = {}
    try:
        state = Path(args.state_dir) if args.state_dir else base / "state"
        trees = trees_for(args, queries, base)
        skipped = sorted({q.tree for q in queries} - trees.keys())
        queries = [q for q in queries if q.tree in trees]
        with Daemon(base, state) as daemon:
            started = time.perf_counter()
            roots: dict[str, str] = {}
            connections: dict[str, apsw.Connection] = {}
            for name, tree in trees.items():
                added = daemon.call("workspace.add", {"root": str(tree)})
                status = daemon.wait(str(tree))
                indexed[name] = status["files_indexed"]
                roots[name] = added["root"]
                db = state / "workspaces" / added["id"] / "index.db"
                connections[name] = apsw.Connection(
                    str(db), flags=apsw.SQLITE_OPEN_READONLY
                )
            index_s = time.perf_counter() - started
            for name in trees:
                subset = [q for q in queries if q.tree == name]
                problems += resolve(daemon, roots[name], subset)
            for query in queries:
                root = roots[query.tree]
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
                base_hits = bm25_hits(connections[query.tree], query.text)
                query.ranks["bm25"] = rank_of(query, base_hits)
                query.top["bm25"] = [f"{p}:{s}" for p, s, _, _ in base_hits[:3]]
            for conn in connections.values():
                conn.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "loadavg": Path("/proc/loadavg").read_text().split()[:3]
        if Path("/proc/loadavg").exists()
        else None,
        "set": args.set,
        "trees": {
            name: (
                next(
                    f"{c.repo}@{c.commit[:10]}"
                    for c in corpora.CORPORA
                    if c.repo == name
                )
                if name != "stdlib"
                else str(args.stdlib)
            )
            for name in indexed
        },
        "skipped_trees": skipped,
        "indexed": indexed,
        "index_s": round(index_s, 1),
        "search_took_ms_p50": percentile(took, 0.5),
        "search_took_ms_p95": percentile(took, 0.95),
        "problems": problems,
        "splits": {},
    }
    for name, subset in (
        ("tune", [q for q in queries if q.split == "tune"]),
        ("heldout", [q for q in queries if q.split == "heldout"]),
        ("heldout nl", [q for q in queries if q.split == "heldout" and q.kind == "nl"]),
        (
            "heldout identifier",
            [q for q in queries if q.split == "heldout" and q.kind == "identifier"],
        ),
        ("all nl", [q for q in queries if q.kind == "nl"]),
        ("all identifier", [q for q in queries if q.kind == "identifier"]),
        ("all", queries),
    ):
        if not subset:
            continue
        axd, bm25 = metrics(subset, "axd"), metrics(subset, "bm25")
        report["splits"][name] = {
            "queries": len(subset),
            "axd": axd,
            "bm25": bm25,
            "mrr_improvement": (axd["mrr"] / bm25["mrr"] - 1) if bm25["mrr"] else None,
        }
    report["queries"] = [
        {"query": q.text, "tree": q.tree, "kind": q.kind, "split": q.split,
         "ranks": q.ranks, "top": q.top}
        for q in queries
        if args.show == "all" or q.split == args.show
    ]  # fmt: skip
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--set", choices=("stdlib", "repos"), default="stdlib")
    parser.add_argument("--queries", type=Path, help="a query file of that set")
    parser.add_argument("--state-dir", help="keep the index here between runs")
    parser.add_argument(
        "--show", choices=("tune", "heldout", "all", "none"), default="none",
        help="print per-query ranks for this split",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args)
    if not report["indexed"]:
        print("note: none of the query set's trees is on this machine; skipped")
        return
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; load {report['loadavg']}; {report['date']}")
    print(
        f"trees: {report['trees']}; indexed {report['indexed']} in "
        f"{report['index_s']} s; search took_ms p50 {report['search_took_ms_p50']}"
        f" p95 {report['search_took_ms_p95']}"
    )
    for tree in report["skipped_trees"]:
        print(f"note: {tree} is not on this machine; its queries are left out")
    for problem in report["problems"]:
        print("query set problem:", problem)
    for q in report["queries"]:
        r = q["ranks"]
        print(f"  [{q['split']:7}] axd {r['axd'] or '-':>2} bm25 {r['bm25'] or '-':>2}"
              f"  {q['query']!r}  axd top: {q['top']['axd']}")  # fmt: skip
    print(f"\n{'split':19} {'n':>4} {'axd MRR':>8} {'BM25 MRR':>9} {'ratio':>6}"
          f" {'axd R@1':>8} {'BM25 R@1':>9} {'axd R@10':>9} {'BM25 R@10':>10}")  # fmt: skip
    for name, s in report["splits"].items():
        bm = s["bm25"]["mrr"]
        ratio = f"{s['axd']['mrr'] / bm:.2f}x" if bm else "n/a"
        print(
            f"{name:19} {s['queries']:>4} {s['axd']['mrr']:>8.3f} "
            f"{bm:>9.3f} {ratio:>6} {s['axd']['recall1']:>8.0%} "
            f"{s['bm25']['recall1']:>9.0%} "
            f"{s['axd']['recall']:>9.0%} {s['bm25']['recall']:>10.0%}"
        )
    print(f"goal: axd MRR@10 >= BM25 x {1 + GOAL:.2f} (ratio measured above)")


if __name__ == "__main__":
    main()
