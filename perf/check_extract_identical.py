"""Prove a change to the workers' extraction left its output byte-identical.

Runs `records.ship(process_file(...))` over the same files with two versions
of the code, each in its own interpreter: the current worktree, and a
baseline (a ``git archive`` of an earlier commit laid out as
``DIR/axd/{protocol,daemon,client,migrations}``, imported through
``PYTHONPATH``), and compares the msgpack bytes of every file's outcome.
The only field zeroed before encoding is ``parse_ms`` (a timing).

    git archive BASE protocol daemon client migrations | tar -x -C /tmp/old/axd
    .venv/bin/python perf/check_extract_identical.py --baseline /tmp/old \\
        /work/corpora/deno /work/corpora/moby /work/bench/corpus100k/tree:10

A tree is ``DIR`` or ``DIR:N`` (every N-th file of a sorted walk that skips
dot-directories, as ``perf/bench_extract.py``). Prints, per tree, the files
compared, how many were indexed, and the differences (path and the first
field that differs); exits 1 when any file differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_extract import REPO, list_files, parse_tree


def dump(root: str, every: int, out: str) -> None:
    """Child: every file's shipped outcome, as one msgpack list of pairs."""
    from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
    from axd.daemon.records import ship

    settings = WorkerSettings(
        root=root,
        max_file_bytes=2 << 20,
        max_line_bytes=20_000,
        max_chunk_bytes=4096,
        parse_timeout_ms=60_000,  # a slow machine must not turn a file into a skip
    )
    encoder = msgspec.msgpack.Encoder()
    pairs: list[tuple[str, bytes]] = []
    for path in list_files(root, every):
        outcome = ship(process_file(settings, WorkItem(path)))
        outcome = msgspec.structs.replace(outcome, parse_ms=0.0)
        pairs.append((path, encoder.encode(outcome)))
    Path(out).write_bytes(encoder.encode(pairs))


def first_difference(old: bytes, new: bytes) -> str:
    """Where two encoded outcomes differ, in words."""
    decoded_old: Any = msgspec.msgpack.decode(old)
    decoded_new: Any = msgspec.msgpack.decode(new)
    for key in sorted(set(decoded_old) | set(decoded_new)):
        a, b = decoded_old.get(key), decoded_new.get(key)
        if a == b:
            continue
        if key == "shipped" and a is not None and b is not None:
            ex_old = msgspec.msgpack.decode(a)
            ex_new = msgspec.msgpack.decode(b)
            for field in sorted(set(ex_old) | set(ex_new)):
                x, y = ex_old.get(field), ex_new.get(field)
                if x == y:
                    continue
                if isinstance(x, list) and isinstance(y, list):
                    for index, (p, q) in enumerate(zip(x, y, strict=False)):
                        if p != q:
                            return f"extraction.{field}[{index}]: {p!r} != {q!r}"[:600]
                    return f"extraction.{field}: {len(x)} items != {len(y)}"
                return f"extraction.{field}: {x!r} != {y!r}"[:600]
            return "shipped bytes differ (same decoded value)"
        return f"{key}: {a!r} != {b!r}"[:600]
    return "bytes differ (same decoded value)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="DIR or DIR:N")
    parser.add_argument("--baseline", help="root of the code to compare with")
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        root, every = parse_tree(args.trees[0])
        dump(root, every, args.dump)
        return 0
    if not args.baseline:
        parser.error("--baseline is required")
    failed = False
    with tempfile.TemporaryDirectory(prefix="axd-identical-") as scratch:
        for text in args.trees:
            root, every = parse_tree(text)
            outputs = {}
            children = []
            for label, code in (("old", args.baseline), ("new", None)):
                env = dict(os.environ)
                env.pop("PYTHONPATH", None)
                if code is not None:
                    env["PYTHONPATH"] = code
                outputs[label] = os.path.join(scratch, f"{label}.msgpack")
                children.append(
                    subprocess.Popen(
                        [sys.executable, __file__, f"{root}:{every}"]
                        + ["--dump", outputs[label]],
                        env=env,
                        cwd=REPO,
                    )
                )
            if any(child.wait() != 0 for child in children):
                print(f"{root}: a child failed")
                return 2
            old = msgspec.msgpack.decode(Path(outputs["old"]).read_bytes())
            new = msgspec.msgpack.decode(Path(outputs["new"]).read_bytes())
            indexed = sum(
                1
                for _, blob in new
                if msgspec.msgpack.decode(blob).get("status") == "indexed"
            )
            differences = [
                (path, first_difference(a, b))
                for (path, a), (_, b) in zip(old, new, strict=True)
                if a != b
            ]
            print(
                f"{root} every {every}: {len(new)} files, {indexed} indexed,"
                f" {len(differences)} differences"
            )
            for path, what in differences[:20]:
                print(f"  {path}: {what}")
            failed = failed or bool(differences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
