"""Summarise a py-spy raw (folded) profile of an axd cold index: on-CPU
samples per process role and per stage.

Input: the file ``bench_cold.py --py-spy DIR`` writes (``py-spy record
--subprocesses --threads --format raw``, without ``--idle``, so a sample is a
thread running on a CPU). Each line is ``frame;frame;... count``; the first
frames name the process (``process PID:"cmdline"``, one more per child level)
and the thread.

A sample is put in the first stage (searching from the innermost frame out)
whose function it finds; the table says what share of all on-CPU samples,
and of its process role's samples, each stage took.

    .venv/bin/python perf/spy_summary.py FILE.folded
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# (stage, function names); the innermost match wins, so specific names first.
DAEMON_STAGES = [
    ("writer: identifier splitting (compound_terms, name_terms, initials)",
     {"compound_terms", "_token_terms", "split_identifier", "name_terms", "_initials",
      "_split_word"}),
    ("writer: SQL inserts (executemany: FTS5 + B-trees)", {"flush"}),
    ("writer: row tuples (add_children)", {"add_children"}),
    ("writer: relink_all (imports, once)", {"relink_all"}),
    ("writer: rest of write_batch (upserts, priors)", {"write_batch"}),
    ("writer: BEGIN/COMMIT (FTS5 flush, WAL)", {"_write"}),
    ("IPC: decoding worker results (msgspec, in the waiter thread)",
     {"decode", "_decode", "_receive", "recv_bytes", "_recv_bytes", "_recv",
      "WorkerPool._submit.<locals>.<lambda>"}),
    ("planning batches (stat, known hashes)", {"_plan_batch", "_take_batch"}),
    ("crawl / stat pass", {"_reconcile", "crawl", "plan", "walk", "_scan"}),
    ("event loop (select, callbacks)", {"_run_once"}),
    ("pool: submit / result plumbing", {"_submit", "submit", "_send_bytes", "send_bytes",
                                         "_ExecutorManagerThread.run", "add_call_item_to_queue"}),
]  # fmt: skip
WORKER_STAGES = [
    ("worker: tree-sitter parse", {"_parse"}),
    ("worker: IPC encode", {"encode"}),
    ("worker: extract._outer (growing definitions to wrappers)", {"_outer"}),
    ("worker: chunking (chunk_file)", {"chunk_file"}),
    ("worker: reference context lines (_context)", {"_context"}),
    ("worker: symbols (_symbols: signatures, comments, docstrings)", {"_symbols"}),
    ("worker: rest of extract (query matching, references, records)", {"extract"}),
    ("worker: read / classify / hash", {"process_file"}),
    ("worker: IPC receive / send", {"_process_worker", "recv_bytes", "send_bytes"}),
]


def function(frame: str) -> str:
    return frame.split(" (", 1)[0].rsplit(".", 1)[-1]


def classify(frames: list[str]) -> tuple[str, str]:
    processes = [f for f in frames if f.startswith("process ")]
    role = "daemon" if len(processes) <= 1 else "worker"
    code = [f for f in frames if not f.startswith(("process ", "thread "))]
    names = [function(f) for f in code]
    full = [f.split(" (", 1)[0] for f in code]
    stages = DAEMON_STAGES if role == "daemon" else WORKER_STAGES
    for name, qual in zip(reversed(names), reversed(full), strict=True):
        for stage, functions in stages:
            if name in functions or qual in functions:
                return role, stage
    thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
    label = thread.split(": ", 1)[-1]
    return role, f"{role}: other ({label})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    counts: Counter[tuple[str, str]] = Counter()
    for line in Path(args[0]).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[classify(stack.split(";"))] += int(count)
    total = sum(counts.values())
    roles: Counter[str] = Counter()
    for (role, _), n in counts.items():
        roles[role] += n
    print(f"{args[0]}: {total} on-CPU samples; " + ", ".join(
        f"{role} {n} ({100 * n / total:.0f}%)" for role, n in roles.most_common()))  # fmt: skip
    print("| stage | samples | of all | of its process role |")
    print("|---|---:|---:|---:|")
    for (role, stage), n in counts.most_common():
        print(
            f"| {stage} | {n} | {100 * n / total:.1f}% | {100 * n / roles[role]:.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
