"""What `axd lsp` adds to a lookup: LSP requests vs the same calls on the socket.

A real daemon indexes a big tree (``--tree``, default the CPython standard
library of this interpreter; ``--corpus N`` builds and uses the ~N-file
corpus of `corpus.build_corpus` instead). Then, in the same run and
interleaved so both see the same machine:

* **LSP**: ``axd lsp --no-start`` as a subprocess, driven over stdio as an
  editor does (each file opened with didOpen first; UTF-16 positions unless
  ``--encoding utf-8``), by a client that decodes replies to plain JSON as
  Neovim's or VS Code's do (Content-Length framing from `axd.protocol`,
  blocking pipes): ``textDocument/definition`` at the name of a
  definition drawn from the index (answered from the same file: one
  ``symbols.definition`` call), and ``workspace/symbol`` with random 2-6
  character prefixes of indexed names.
* **socket**: the same lookups as one blocking NDJSON call each, what the
  server asks the daemon: ``symbols.definition {root, name, path}`` (the
  same-file tier, which answers at a definition) and ``symbols.search {root, query,
  limit: 100}``, the result decoded to plain JSON as the LSP client does
  with its replies (a client of either must read what it gets).

Latency is the client's wall time per request (send to decoded reply),
p50/p95. On a shared, loaded machine most of the LSP layer's wall time is
waiting for a CPU at each hop (editor -> `axd lsp` -> daemon and back), so the
run also reports the CPU time `axd lsp` itself spends per request
(``/proc/PID/stat`` before and after a separate run of each lookup), which
load does not inflate. Target (issue #15): the LSP layer adds <= 1 ms at p50. Reported, not asserted.

    .venv/bin/python perf/bench_lsp.py [--tree DIR | --corpus 100000]
        [--samples 300] [--encoding utf-16|utf-8] [--json]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from axd.protocol.framing import ContentLengthDecoder, Message, encode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import build_corpus
from daemon_proc import Daemon

# Source files drawn for definitions: several languages (the ~100k corpus has
# Go, Java, TypeScript, PHP, Ruby, Rust, C, Python ...).
EXTENSIONS = {
    ".py", ".go", ".ts", ".tsx", ".js", ".java", ".kt", ".c", ".h", ".cc",
    ".cpp", ".rs", ".rb", ".php", ".cs", ".scala",
}  # fmt: skip
AXD_LSP = [sys.executable, "-c", "from axd.client.cli import run; run()", "lsp"]
TARGET_MS = 1.0
from axd.client.lsp.features import SYMBOLS_LIMIT  # what `axd lsp` asks for


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def source_files(root: Path, limit: int, rng: random.Random) -> list[Path]:
    """Up to `limit` random source files under `root`."""
    found = [
        Path(d) / name
        for d, _, names in os.walk(root)
        for name in names
        if os.path.splitext(name)[1] in EXTENSIONS
    ]
    return rng.sample(found, min(limit, len(found)))


def utf16_column(line: bytes, col: int) -> int:
    return len(line[:col].decode("utf-8", "replace").encode("utf-16-le")) // 2


def draw_definitions(
    daemon: Daemon, root: Path, samples: int, rng: random.Random
) -> list[tuple[Path, str, int, int, str, int]]:
    """(file, name, 0-based line, UTF-16 character, text, byte column) at
    definitions' names."""
    picked: list[tuple[Path, str, int, int, str, int]] = []
    for path in source_files(root, samples * 4, rng):
        if len(picked) >= samples:
            break
        rel = path.relative_to(root).as_posix()
        outline = daemon.call("symbols.outline", {"root": str(root), "path": rel})
        symbols = [s for s in outline["symbols"] if s["name"].isidentifier()]
        if not symbols:
            continue
        symbol = rng.choice(symbols)
        data = path.read_bytes()
        sel = symbol["selection_range"]
        line = data.split(b"\n")[sel["start_line"] - 1]
        text = data.decode("utf-8", "replace")
        picked.append(
            (path, symbol["name"], sel["start_line"] - 1, utf16_column(line, sel["start_col"]), text, sel["start_col"])
        )  # fmt: skip
    return picked


def draw_prefixes(
    daemon: Daemon,
    root: Path,
    samples: int,
    rng: random.Random,
    defined: list[str],
) -> list[str]:
    """2-6 character prefixes of indexed names, as a user types them: names
    found by a few common prefixes plus the names of the drawn definitions
    (so every language of the tree is queried)."""
    found = {
        s["name"]
        for q in ("get", "set", "test", "Rea", "par", "Fi", "run", "op", "to", "is")
        for s in daemon.call("symbols.search", {"root": str(root), "query": q, "limit": 200})["symbols"]
    }  # fmt: skip
    names = sorted(
        name for name in found | set(defined) if name.isidentifier() and len(name) >= 3
    )
    return [
        name[: rng.randint(2, min(6, len(name)))]
        for name in rng.sample(names, min(samples, len(names)))
    ]


class LspProcess:
    """`axd lsp` on pipes; one request at a time, replies as plain JSON."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._ids = itertools.count(1)
        self._decoder = ContentLengthDecoder(1 << 30)
        self._ready: list[dict[str, Any]] = []

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        request_id = next(self._ids)
        self._send(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
        while True:
            message = self._next()
            if message.get("id") == request_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode("content-length", json.dumps(message).encode()))
        self.proc.stdin.flush()

    def _next(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while not self._ready:
            data = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not data:
                raise RuntimeError("axd lsp exited")
            for frame in self._decoder.feed(data):
                if isinstance(frame, Message):
                    self._ready.append(json.loads(frame.body))
        return self._ready.pop(0)


def rel_path(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def lsp_params(method: str, item: Any, encoding: str) -> dict[str, Any]:
    if method == "workspace/symbol":
        return {"query": item}
    path, _, line, character, _, byte_col = item
    return {
        "textDocument": {"uri": path.as_uri()},
        "position": {
            "line": line,
            "character": byte_col if encoding == "utf-8" else character,
        },
    }


def run(args: argparse.Namespace, root: Path, daemon: Daemon) -> dict[str, Any]:
    rng = random.Random(args.seed)
    drawn = draw_definitions(daemon, root, args.samples, rng)
    names = [name for _, name, *_ in drawn]
    prefixes = draw_prefixes(daemon, root, args.samples, rng, names)
    env = dict(os.environ, AXD_SOCKET=str(daemon.socket))
    command = shlex.split(args.lsp_command) if args.lsp_command else [*AXD_LSP]
    command.append("--no-start")
    if args.profile:  # cProfile of the server, written when it exits
        run_cli = "from axd.client.cli import run; import cProfile; "
        run_cli += f"cProfile.run('run()', {str(args.profile)!r})"
        command = [sys.executable, "-c", run_cli, "lsp", "--no-start"]
    server = LspProcess(command, env)
    init = server.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {"general": {"positionEncodings": [args.encoding]}},
            "workspaceFolders": [{"uri": root.as_uri(), "name": "bench"}],
        },
    )
    assert init["capabilities"]["positionEncoding"] == args.encoding, init
    server.notify("initialized", {})
    for path, *_, text, _ in drawn:
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": path.as_uri(), "languageId": "", "version": 1, "text": text}},
        )  # fmt: skip
    direct = daemon.connect()
    times: dict[str, list[float]] = {
        k: [] for k in ("lsp definition", "socket definition", "lsp symbol", "socket symbol")
    }  # fmt: skip
    misses = 0
    try:
        for rnd in range(2):  # round 0 warms caches and is not recorded
            for i in range(max(len(drawn), len(prefixes))):
                path, name, line, character, _, byte_col = drawn[i % len(drawn)]
                if args.encoding == "utf-8":
                    character = byte_col
                started = time.perf_counter()
                found = server.request(
                    "textDocument/definition",
                    {
                        "textDocument": {"uri": path.as_uri()},
                        "position": {"line": line, "character": character},
                    },
                )
                lsp_def = time.perf_counter() - started
                misses += not found
                started = time.perf_counter()
                json.loads(
                    direct.call_raw(
                        "symbols.definition",
                        {"root": str(root), "name": name, "path": rel_path(root, path)},
                    )
                )
                sock_def = time.perf_counter() - started
                query = prefixes[i % len(prefixes)]
                started = time.perf_counter()
                server.request("workspace/symbol", {"query": query})
                lsp_sym = time.perf_counter() - started
                started = time.perf_counter()
                json.loads(
                    direct.call_raw(
                        "symbols.search",
                        {"root": str(root), "query": query, "limit": SYMBOLS_LIMIT},
                    )
                )
                sock_sym = time.perf_counter() - started
                if rnd:
                    times["lsp definition"].append(lsp_def * 1000)
                    times["socket definition"].append(sock_def * 1000)
                    times["lsp symbol"].append(lsp_sym * 1000)
                    times["socket symbol"].append(sock_sym * 1000)
        cpu = {}
        for kind, method, inputs in (
            ("definition", "textDocument/definition", drawn),
            ("symbol", "workspace/symbol", prefixes),
        ):
            before, count = server.cpu_s(), 0
            for _ in range(3):
                for item in inputs:
                    server.request(method, lsp_params(method, item, args.encoding))
                    count += 1
            cpu[kind] = round((server.cpu_s() - before) / count * 1000, 3)
    finally:
        direct.close()
        server.close()
    return {
        "times": times,
        "server cpu ms": cpu,
        "definitions": len(drawn),
        "prefixes": len(prefixes),
        "misses": misses // 2,
        "languages": dict(
            collections.Counter(path.suffix for path, *_ in drawn).most_common()
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tree", type=Path, default=Path(sysconfig.get_paths()["stdlib"])
    )
    parser.add_argument(
        "--corpus", type=int, default=0, help="build and use an N-file corpus"
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--encoding", choices=["utf-16", "utf-8"], default="utf-16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, help="keep the index between runs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--lsp-command",
        help="the server to measure instead of `axd lsp` (e.g. an older build;"
        " `--no-start` is appended)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of `axd lsp` to this file"
    )
    args = parser.parse_args(argv)
    if args.corpus:
        info = build_corpus(HERE / "corpus", args.corpus)
        root = (HERE / "corpus" / "tree").resolve()
        label = f"perf/corpus ({info.files} files)"
    else:
        root = args.tree.resolve()
        label = str(root)
    with tempfile.TemporaryDirectory(prefix="axdl-", dir="/tmp") as base:
        state = args.state_dir or Path(base) / "state"
        with Daemon(Path(base), state) as daemon:
            started = time.perf_counter()
            daemon.call("workspace.add", {"root": str(root)})
            status = daemon.wait(str(root))
            index_s = time.perf_counter() - started
            result = run(args, root, daemon)
    times = result.pop("times")
    report: dict[str, Any] = {
        "tree": label,
        "files": status["files_indexed"],
        "index_s": round(index_s, 1),
        "encoding": args.encoding,
        **result,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "ms": {k: {"p50": round(pct(v, 0.5), 3), "p95": round(pct(v, 0.95), 3), "n": len(v)} for k, v in times.items()},
    }  # fmt: skip
    for kind in ("definition", "symbol"):
        lsp_p50 = report["ms"][f"lsp {kind}"]["p50"]
        sock_p50 = report["ms"][f"socket {kind}"]["p50"]
        report[f"{kind} added p50 ms"] = round(lsp_p50 - sock_p50, 3)
        report[f"{kind} ratio p50"] = round(lsp_p50 / sock_p50, 2) if sock_p50 else None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"tree: {label}: {report['files']} files indexed in {report['index_s']} s")
    print(f"machine: {report['machine']}; load {' '.join(report['loadavg'])}")
    print(
        f"encoding {args.encoding}; {result['definitions']} definitions ({result['misses']} not found), {result['prefixes']} prefixes"
    )
    print(f"definitions by extension: {result['languages']}")
    print(f"{'lookup':<20} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in report["ms"].items():
        print(f"{name:<20} {row['p50']:>8.3f} {row['p95']:>8.3f}")
    for kind in ("definition", "symbol"):
        added = report[f"{kind} added p50 ms"]
        verdict = "met" if added <= TARGET_MS else "NOT met"
        cpu_ms = report["server cpu ms"][kind]
        print(f"{kind}: axd lsp's own CPU time per request {cpu_ms:.3f} ms")
        print(
            f"{kind}: LSP adds {added:.3f} ms at p50 (x{report[f'{kind} ratio p50']} the socket); target <= {TARGET_MS} ms: {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
