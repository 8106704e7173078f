"""Worker CPU per file: `process_file` against the parse alone (#16 target 1).

For each tree, every N-th file (sorted walk, dot-directories skipped) goes
through `axd.daemon.index.worker.process_file` (read, classify, hash, parse,
extract, nest, chunk, derive) and then `records.ship` (the msgpack encoding a
worker sends), serially in one process, after a warm-up pass that compiles
every language's parser and query. The reference, same run and same files:
one `Parser.parse(bytes)` per indexed file (the one-process parse floor).
Figures are CPU seconds (`time.process_time`), not wall time: the machine
is shared.

With ``--baseline DIR`` the same measurement also runs on other code (a
``git archive`` of an earlier commit laid out as ``DIR/axd/{protocol,daemon,
client}``, imported through ``PYTHONPATH``), alternating with the current
code, so both are measured under the same load:

    .venv/bin/python perf/bench_extract.py /work/corpora/deno:3 \\
        /work/corpora/moby:3 --baseline /tmp/old [--rounds 2] [--prof]

Each run also prints the split of the worker's CPU over the indexed files,
each step as a ratio to that run's parse: the query alone
(`QueryCursor.matches` consumed), `extract` whole, `derive`, `process_file`.

``--parallel`` runs the two side by side rather than one after the other:
on a machine shared with other work, both then see the same load (the
figures of one run alternate between 20% apart otherwise).

A tree is ``DIR`` or ``DIR:N`` (every N-th file, default 1). ``--prof``
prints a cProfile of the current code (tottime, top 30) per tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def list_files(root: str, every: int) -> list[str]:
    """Workspace-relative paths, sorted, every `every`-th one."""
    files: list[str] = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(
            os.path.relpath(os.path.join(directory, name), root) for name in names
        )
    files.sort()
    return files[::every]


def bench_settings(root: str) -> Any:
    """The `WorkerSettings` every extraction benchmark runs with (the
    daemon's defaults, a longer line limit: real repositories' long lines
    are measured, not skipped)."""
    from axd.daemon.index.worker import WorkerSettings

    return WorkerSettings(
        root=root,
        max_file_bytes=2 << 20,
        max_line_bytes=20_000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )


def measure(root: str, every: int, prof: bool) -> dict[str, Any]:
    """One tree, in this process, with whatever `axd` is importable."""
    import tree_sitter_language_pack as tslp

    from axd.daemon.index.worker import WorkItem, process_file
    from axd.daemon.records import ship

    files = list_files(root, every)
    settings = bench_settings(root)
    items = [WorkItem(path) for path in files]
    for item in items:  # warm-up: parsers and queries compiled, caches as a worker's
        ship(process_file(settings, item))
    started = time.process_time()
    outcomes = [process_file(settings, item) for item in items]
    extracted = time.process_time() - started
    started = time.process_time()
    for outcome in outcomes:
        ship(outcome)
    shipped = time.process_time() - started
    indexed = [o for o in outcomes if o.status == "indexed"]
    sources = [
        (o.language, Path(root, o.path).read_bytes()) for o in indexed if o.language
    ]
    started = time.process_time()
    for language, data in sources:
        tslp.get_parser(language).parse(data)  # type: ignore[arg-type]
    floor = time.process_time() - started
    phases = split_phases(sources)
    if prof:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for item in items:
            ship(process_file(settings, item))
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return {
        "tree": root,
        "every": every,
        "files": len(files),
        "indexed": len(indexed),
        "bytes": sum(len(data) for _, data in sources),
        "process_file_s": round(extracted, 3),
        "ship_s": round(shipped, 3),
        "parse_s": round(floor, 3),
        **phases,
    }


def split_phases(sources: list[tuple[str, bytes]]) -> dict[str, float]:
    """CPU seconds of the worker's steps over the same files: the query
    alone (`QueryCursor.matches` consumed over a tree parsed outside the
    timing), `extract` whole (parse + query + nesting + chunking) and
    `derive` (FTS columns, packed text) of its result."""
    from tree_sitter import QueryCursor

    from axd.daemon.index import extract as extract_module
    from axd.daemon.index.derive import derive

    query = 0.0
    for language, data in sources:
        built = extract_module._compiled(language)
        if built.query is None:
            continue
        root = built.parser.parse(data).root_node
        started = time.process_time()
        cursor = QueryCursor(built.query)
        if built.spec.query_max_start_depth is not None:
            cursor.set_max_start_depth(built.spec.query_max_start_depth)
        for _match in cursor.matches(root, extract_module._no_predicate):
            pass
        query += time.process_time() - started
    extracted = derived = 0.0
    clock = time.process_time
    for language, data in sources:
        # One file at a time, as a worker: results kept alive would make
        # the cyclic GC's full passes (and the figures) grow with the tree.
        started = clock()
        extraction = extract_module.extract(data, language, timeout_ms=60_000)
        middle = clock()
        derive(extraction)
        extracted += middle - started
        derived += clock() - middle
    return {
        "query_s": round(query, 3),
        "extract_s": round(extracted, 3),
        "derive_s": round(derived, 3),
    }


def start_child(code: str | None, tree: str, every: int, prof: bool) -> Any:
    """`measure` in a fresh interpreter; `code` is a baseline's PYTHONPATH."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = code
    else:
        env.pop("PYTHONPATH", None)
    args = [sys.executable, __file__, "--child", f"{tree}:{every}"]
    if prof:
        args.append("--prof")
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)


def finish_child(child: Any) -> dict[str, Any]:
    """The figures a child printed (its last line, JSON)."""
    out, _ = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"a measuring child failed ({child.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def parse_tree(text: str) -> tuple[str, int]:
    root, _, every = text.rpartition(":")
    if root and every.isdigit():
        return root, int(every)
    return text, 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="DIR or DIR:N (every N-th file)")
    parser.add_argument("--baseline", help="root of other code to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--prof", action="store_true")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="run the baseline and the current code at the same time",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, every = parse_tree(args.trees[0])
        print(json.dumps(measure(root, every, args.prof)))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; shared machine,"
        f" load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    )
    for text in args.trees:
        root, every = parse_tree(text)
        runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
        for _ in range(args.rounds):
            if args.baseline and args.parallel:
                # Side by side: on a shared machine both see the same load.
                pair = [
                    start_child(args.baseline, root, every, False),
                    start_child(None, root, every, args.prof),
                ]
                runs["baseline"].append(finish_child(pair[0]))
                runs["current"].append(finish_child(pair[1]))
                continue
            if args.baseline:
                runs["baseline"].append(
                    finish_child(start_child(args.baseline, root, every, False))
                )
            runs["current"].append(
                finish_child(start_child(None, root, every, args.prof))
            )
        for label, results in runs.items():
            if not results:
                continue
            best = min(results, key=lambda r: r["process_file_s"])
            ratio = best["process_file_s"] / best["parse_s"]
            ship_ratio = (best["process_file_s"] + best["ship_s"]) / best["parse_s"]
            print(
                f"{label:8} {root} every {every}: {best['indexed']}/{best['files']}"
                f" files indexed, {best['bytes'] / 1e6:.1f} MB;"
                f" process_file {best['process_file_s']:.2f} s CPU,"
                f" ship {best['ship_s']:.2f} s, parse-only {best['parse_s']:.2f} s;"
                f" ratio {ratio:.2f}x (with ship {ship_ratio:.2f}x)"
            )
            floor = best["parse_s"]
            print(
                "         split, s CPU (x parse):"
                + "".join(
                    f" {name} {best[key]:.2f} ({best[key] / floor:.2f}x)"
                    for name, key in (
                        ("parse", "parse_s"),
                        ("query", "query_s"),
                        ("extract", "extract_s"),
                        ("derive", "derive_s"),
                        ("process_file", "process_file_s"),
                    )
                )
            )
        if runs["baseline"]:
            old = min(r["process_file_s"] for r in runs["baseline"])
            new = min(r["process_file_s"] for r in runs["current"])
            print(f"         current/baseline process_file CPU: {new / old:.3f}")
    print(f"load at end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
