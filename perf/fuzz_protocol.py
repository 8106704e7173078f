"""A protocol fuzzer: hostile and careless clients against a real daemon.

Hypothesis draws *sessions*: one connection, a framing, and a sequence of
items from a grammar of frames — well-formed requests for every method of
`protocol/methods.py` with random params, batches mixing valid and invalid
elements, random bytes, invalid UTF-8, deep nesting, huge strings and
numbers, and (ending a session) broken framing: wrong, duplicate or huge
Content-Length, truncated frames, connections dropped mid-frame. Frames are
sent whole, split at random points, or byte by byte.

After every session the fuzzer checks that

* every well-formed request with an id got exactly one well-formed answer
  (unless the session broke its own framing before the answer was due),
* every byte the daemon wrote was a well-formed message in the session's
  framing,
* the daemon still answers `server.info` on a new connection,
* a control client's queries return what they returned before.

Usage::

    python perf/fuzz_protocol.py --minutes 30        # long run, prints figures
    pytest tests/test_fuzz_protocol.py               # bounded run in CI

Each distinct failure (Hypothesis may find several in one round) is printed
with the methods involved, the minimised session that reproduces it (its
framing, how it was cut, and the exact bytes sent) and what went wrong, and
appended to a findings file (JSON lines, `--findings`); the run goes on
(with a fresh daemon if the old one died) until its time is up.
`--replay FILE` plays the recorded sessions again against a fresh daemon.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure

from axd.protocol.methods import METHODS

GUARD_S = 30.0  # hang guard for one answer; the daemon's deadline is 5 s
MAX_MESSAGE_BYTES = 1 << 20
REQUEST_TIMEOUT_S = 5
# Methods that would end the run or change what the control client sees
# (each has its own tests): stopping, removing the workspace, and replacing or
# re-versioning its index (a random `db.rollback` leaves queries answering
# NOT_READY until a migrate, by design); and the two that write a file to a
# path the caller names (random paths must not land on the machine).
EXCLUDED = frozenset(
    {
        "server.shutdown",
        "db.backup",
        "snapshot.export",
        "workspace.remove",
        "snapshot.restore",
        "snapshot.import",
        "db.migrate",
        "db.rollback",
        "db.restore",
    }
)
FUZZED = sorted(name for name in METHODS if name not in EXCLUDED)

CONTROL_FILES = {
    "calc.py": "def add_numbers(a, b):\n    return a + b\n\nclass Engine:\n"
    "    def run(self):\n        return add_numbers(1, 2)\n",
    "util/strings.py": "import os\n\ndef shout(text):\n    return text.upper()\n",
    "web/app.ts": "export function renderPage(title: string) { return title }\n",
}


# -- the daemon under test -------------------------------------------------------------


class Target:
    """A real `axd daemon` subprocess on a small tree, and a control client."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = base / "s" / "axd.sock"
        self.root = base / "repo"
        self.sandbox = base / "sandbox"  # paths fuzzed params may name
        self.log_path = base / "daemon.log"
        for relative, text in CONTROL_FILES.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.sandbox.mkdir(parents=True)
        config = base / "config.toml"
        config.write_text(
            f"[server]\nmax_message_bytes = {MAX_MESSAGE_BYTES}\n"
            f"request_timeout_s = {REQUEST_TIMEOUT_S}\n"
            "[index]\nworkers = 1\n[log]\nlevel = 'warning'\nformat = 'json'\n"
        )
        env = dict(os.environ)
        env.pop("AXD_CONFIG", None)
        env["XDG_CONFIG_HOME"] = str(base / "xdg")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--socket", str(self.socket),
             "--state-dir", str(base / "state"), "--config", str(config),
             "--metrics-addr", "", "--add", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=self._log, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self.socket.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"daemon did not start:\n{self.log()}")
            time.sleep(0.05)
        self.call("index.wait", {"root": str(self.root), "timeout_s": 60})
        self.baseline = self.control()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One request on a fresh connection; its result (errors raise)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(GUARD_S * 2)
            sock.connect(str(self.socket))
            message = {"jsonrpc": "2.0", "method": method, "id": 1}
            if params is not None:
                message["params"] = params
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError(f"{method}: connection closed")
                data += chunk
        reply = json.loads(data)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def control(self) -> dict[str, Any]:
        """The control client's view: results that fuzzing must not change."""
        root = str(self.root)
        search = self.call("search", {"root": root, "query": "add numbers"})
        definition = self.call("symbols.definition", {"root": root, "name": "run"})
        outline = self.call("symbols.outline", {"root": root, "path": "calc.py"})
        status = self.call("index.status", {"root": root})
        return {
            "search": sorted(hit["path"] for hit in search["results"]),
            "definition": [
                (d["qualified_name"], d["path"]) for d in definition["definitions"]
            ],
            "outline": [s["name"] for s in outline["symbols"]],
            "files": status["files_total"],
            "workspaces": self.call("workspace.list")["workspaces"][0]["root"],
        }

    def alive(self) -> None:
        """Raise unless the daemon runs and answers `server.info`."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"daemon exited ({self.proc.returncode}):\n{self.log()}"
            )
        info = self.call("server.info")
        assert info["pid"] == self.proc.pid, info

    def log(self) -> str:
        """The daemon's stderr so far (its last 8 KB)."""
        self._log.flush()
        return self.log_path.read_bytes()[-8192:].decode(errors="replace")

    def crashes_logged(self) -> list[str]:
        """Log lines of isolated crashes (each one a bug to look at)."""
        self._log.flush()
        lines = self.log_path.read_bytes().decode(errors="replace").splitlines()
        return [line for line in lines if "crash_isolated" in line]

    def stop(self) -> None:
        """Terminate the daemon and close its log."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# -- the grammar -------------------------------------------------------------------------


@dataclass
class Item:
    """One thing a session sends: bytes, and what it obliges the daemon to."""

    body: bytes  # a message body, or raw bytes when `raw`
    tracked: tuple[str, ...] = ()  # request ids that must be answered once
    raw: bool = False  # send as is (no framing): garbage or broken framing
    breaks: bool = False  # after this, the framing is broken: stop checking


@dataclass
class Session:
    """One connection's worth of items."""

    framing: str
    items: list[Item]
    split: str  # "whole" | "random" | "bytes"
    cuts: list[int] = field(default_factory=list)
    drop: bool = False  # close mid-way instead of reading answers


_ids = iter(range(1 << 62))


def _json_leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 70), 1 << 70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
    )


JSON = st.recursive(
    _json_leaf(),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


def _value_for(name: str, target: Target) -> st.SearchStrategy[Any]:
    """Plausible and implausible values for a params field called `name`."""
    root = str(target.root)
    sandbox = str(target.sandbox)
    if name == "root":
        return st.one_of(
            st.just(root),
            st.just(root + "/util"),
            st.builds(lambda s: f"{sandbox}/{s}", st.text("abc/.", max_size=12)),
            st.text(max_size=20).filter(lambda s: not s.startswith("/")),
            JSON,
        )
    if name == "path":
        return st.one_of(
            st.sampled_from(["calc.py", "util/strings.py", "web/app.ts", "nope.py"]),
            st.builds(lambda s: f"{sandbox}/{s}", st.text("abc/.", max_size=12)),
            st.text(max_size=20).filter(lambda s: not s.startswith("/")),
            JSON,
        )
    if name in ("timeout_s", "min_generation", "generation"):
        # Bounded: a wait of hours would only test the hang guard.
        return st.one_of(st.floats(-1, 0.2), st.integers(-5, 3), st.none(), JSON)
    if name == "depth":
        return st.one_of(st.integers(-3, 50), JSON)
    if name in ("limit", "offset", "line"):
        return st.one_of(st.integers(-10, 10_000), st.integers(), JSON)
    return JSON


def _params(method: str, target: Target) -> st.SearchStrategy[Any]:
    fields = METHODS[method].params.__struct_fields__
    known = st.fixed_dictionaries(
        {}, optional={name: _value_for(name, target) for name in fields}
    )
    return st.one_of(
        known,
        st.builds(
            lambda a, b: {**b, **a},
            known,
            st.dictionaries(st.text(max_size=8), JSON, max_size=3),
        ),
        st.just(None),  # no params member
        st.lists(JSON, max_size=3),  # positional: -32602
        JSON,
    )


@st.composite
def well_formed(
    draw: st.DrawFn, target: Target, notification: bool = False
) -> tuple[dict[str, Any], str | None]:
    """A request object with a fresh id (or a notification)."""
    method = draw(st.sampled_from(FUZZED))
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    params = draw(_params(method, target))
    if params is not None:
        message["params"] = params
    if notification:
        return message, None
    ident = f"t{next(_ids)}"
    message["id"] = ident
    return message, ident


@st.composite
def request_item(draw: st.DrawFn, target: Target) -> Item:
    message, ident = draw(
        well_formed(target, notification=draw(st.booleans()) and draw(st.booleans()))
    )
    return Item(json.dumps(message).encode(), (ident,) if ident else ())


@st.composite
def batch_item(draw: st.DrawFn, target: Target) -> Item:
    elements: list[bytes] = []
    tracked: list[str] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["request", "request", "notification", "junk"]))
        if kind == "junk":
            elements.append(json.dumps(draw(JSON)).encode())
            continue
        message, ident = draw(well_formed(target, notification=kind == "notification"))
        elements.append(json.dumps(message).encode())
        if ident:
            tracked.append(ident)
    return Item(b"[" + b",".join(elements) + b"]", tuple(tracked))


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def hostile_item(draw: st.DrawFn, target: Target) -> Item:
    """A message body that is not a valid request (answered or ignored)."""
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "utf8",
                "deep",
                "deep-params",
                "string",
                "number",
                "json",
                "empty-batch",
            ]
        )
    )
    if kind == "bytes":
        body = draw(st.binary(min_size=1, max_size=200))
    elif kind == "utf8":
        bad = draw(
            st.sampled_from(
                [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]
            )
        )
        body = (
            b'{"jsonrpc":"2.0","method":"search","params":{"root":"'
            + bad
            + b'"},"id":"u"}'
        )
    elif kind == "deep":
        body = _nested(
            draw(st.integers(60, 20_000)), draw(st.sampled_from(["array", "object"]))
        )
    elif kind == "deep-params":
        inner = _nested(
            draw(st.integers(60, 5000)), draw(st.sampled_from(["array", "object"]))
        )
        body = (
            b'{"jsonrpc":"2.0","method":"search","params":{"query":'
            + inner
            + b'},"id":"d"}'
        )
    elif kind == "string":
        size = draw(st.integers(1000, 2 * MAX_MESSAGE_BYTES))
        body = (
            b'{"jsonrpc":"2.0","method":"search","params":{"root":"x","query":"'
            + b"q" * size
            + b'"},"id":"s"}'
        )
    elif kind == "number":
        digits = draw(st.integers(30, 50_000))
        body = (
            b'{"jsonrpc":"2.0","method":"search","params":{"limit":'
            + b"9" * digits
            + b'},"id":5}'
        )
    elif kind == "empty-batch":
        body = b"[]"
    else:
        body = json.dumps(draw(JSON)).encode()
    return Item(body)


@st.composite
def breaking_item(draw: st.DrawFn, framing: str) -> Item:
    """Framing that cannot be resynchronised, or a frame cut short."""
    body = b'{"jsonrpc":"2.0","method":"server.info","id":"cut"}'
    if framing == "ndjson":
        cut = draw(st.integers(1, len(body) - 1))
        return Item(body[:cut], raw=True, breaks=True)
    kind = draw(
        st.sampled_from(
            ["short", "long", "duplicate", "huge", "garbage", "none", "truncated"]
        )
    )
    if kind == "short":
        data = b"Content-Length: %d\r\n\r\n%s" % (len(body) - 5, body)
    elif kind == "long":
        data = b"Content-Length: %d\r\n\r\n%s" % (len(body) + 50, body)
    elif kind == "duplicate":
        data = b"Content-Length: 3\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    elif kind == "huge":
        data = b"Content-Length: %d\r\n\r\n%s" % (
            draw(st.integers(MAX_MESSAGE_BYTES + 1, 1 << 62)),
            body,
        )
    elif kind == "garbage":
        data = draw(st.binary(min_size=1, max_size=100)) + b"\r\n\r\n"
    elif kind == "none":
        data = b"Content-Type: x\r\n\r\n" + body
    else:
        data = (b"Content-Length: %d\r\n\r\n%s" % (len(body), body))[
            : draw(st.integers(1, 30))
        ]
    return Item(data, raw=True, breaks=True)


@st.composite
def sessions(draw: st.DrawFn, target: Target) -> Session:
    """One connection: a framing, items, how they are cut, how it ends."""
    framing = draw(st.sampled_from(["ndjson", "content-length"]))
    items = draw(
        st.lists(
            st.one_of(
                request_item(target),
                request_item(target),
                batch_item(target),
                hostile_item(target),
            ),
            min_size=1,
            max_size=12,
        )
    )
    if draw(st.sampled_from([False] * 4 + [True])):
        items.append(draw(breaking_item(framing)))
    split = draw(st.sampled_from(["whole", "whole", "random", "bytes"]))
    cuts = (
        draw(st.lists(st.integers(0, 1 << 16), max_size=8)) if split == "random" else []
    )
    drop = draw(st.sampled_from([False] * 7 + [True]))
    return Session(framing, items, split, cuts, drop=drop)


# -- running and checking ------------------------------------------------------------------


def frame(framing: str, item: Item) -> bytes:
    """The bytes of one item on the wire."""
    if item.raw:
        return item.body
    if framing == "ndjson":
        # A body may hold newlines (random bytes): each line is a message
        # of its own then, which is still hostile input, not a broken frame.
        return item.body.replace(b"\n", b" ") + b"\n"
    return b"Content-Length: %d\r\n\r\n%s" % (len(item.body), item.body)


def _chunks(data: bytes, session: Session) -> list[bytes]:
    if session.split == "whole" or not data:
        return [data]
    if session.split == "bytes" and len(data) <= 4096:
        return [data[i : i + 1] for i in range(len(data))]
    points = sorted({c % len(data) for c in session.cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _messages(framing: str, data: bytes) -> tuple[list[Any], bytes]:
    """Complete messages in `data` (each must be valid JSON) and the rest."""
    found: list[Any] = []
    while True:
        if framing == "ndjson":
            line, sep, rest = data.partition(b"\n")
            if not sep:
                return found, data
            found.append(json.loads(line))
            data = rest
            continue
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return found, data
        name, _, value = head.partition(b":")
        assert name.strip().lower() == b"content-length", head
        length = int(value)
        if len(rest) < length:
            return found, data
        found.append(json.loads(rest[:length]))
        data = rest[length:]


def _check_response(message: Any) -> None:
    assert isinstance(message, dict), message
    assert message.get("jsonrpc") == "2.0", message
    if "method" in message and "id" not in message:
        return  # a notification (subscriptions)
    assert ("result" in message) != ("error" in message), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str)
        assert isinstance(error["data"], dict) and "kind" in error["data"], error


@dataclass
class Stats:
    """What a run sent and what it found."""

    sessions: int = 0
    messages: int = 0
    bytes_sent: int = 0
    answers: int = 0
    tracked: int = 0
    dropped: int = 0
    broken: int = 0


def wire(session: Session) -> tuple[bytes, list[str]]:
    """The bytes a session sends, and the request ids it must get answers
    for (none after an item that breaks the framing)."""
    expected: list[str] = []
    data = b""
    for item in session.items:
        data += frame(session.framing, item)
        if item.breaks:
            break
        expected += item.tracked
    return data, expected


def run_session(target: Target, session: Session, stats: Stats) -> None:
    """Play one session and check its answers; raise AssertionError on a bug."""
    stats.sessions += 1
    data, expected = wire(session)
    breaks = [i for i, item in enumerate(session.items) if item.breaks]
    stats.messages += breaks[0] + 1 if breaks else len(session.items)
    stats.broken += bool(breaks)
    cut_at = len(data) // 2 if session.drop else len(data)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(GUARD_S)
        sock.connect(str(target.socket))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in _chunks(data[:cut_at], session):
                sock.sendall(chunk)
                stats.bytes_sent += len(chunk)
        if session.drop:
            stats.dropped += 1
            return
        _read_answers(sock, session, expected, stats)


def _read_answers(
    sock: socket.socket, session: Session, expected: list[str], stats: Stats
) -> None:
    answered: dict[str, int] = {}
    buffer = b""
    deadline = time.monotonic() + GUARD_S
    while any(answered.get(ident, 0) == 0 for ident in expected):
        assert time.monotonic() < deadline, (
            f"unanswered: {set(expected) - set(answered)}"
        )
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError as exc:
            raise AssertionError("connection reset by the daemon") from exc
        if not chunk:
            break
        buffer += chunk
        messages, buffer = _messages(session.framing, buffer)
        for message in messages:
            stats.answers += 1
            for reply in message if isinstance(message, list) else [message]:
                _check_response(reply)
                ident = reply.get("id")
                if isinstance(ident, str) and ident.startswith("t"):
                    answered[ident] = answered.get(ident, 0) + 1
    stats.tracked += len(expected)
    missing = [ident for ident in expected if ident not in answered]
    assert not missing, f"no answer for {missing}"
    twice = [ident for ident, count in answered.items() if count != 1]
    assert not twice, f"answered more than once: {twice}"


@dataclass
class Finding:
    """One distinct failure: what went wrong and the session reproducing it."""

    signature: str  # what makes it distinct (exception type, normalised text)
    error: str  # what went wrong (the exception, its last frames)
    methods: list[str]  # the methods the session called
    session: Session | None  # None: found by an end-of-round check
    reproduced: bool = True  # False: Hypothesis' replay did not fail again
    log: list[str] = field(default_factory=list)  # daemon log lines

    def describe(self) -> str:
        """Human-readable: printed by the long run."""
        lines = [f"FINDING {self.signature}", f"  methods: {self.methods or '-'}"]
        if not self.reproduced:
            lines.append("  (flaky: did not fail again when Hypothesis replayed it)")
        if self.session is not None:
            session = self.session
            data, expected = wire(session)
            lines.append(
                f"  session: framing={session.framing} split={session.split} "
                f"cuts={session.cuts} drop={session.drop} "
                f"items={len(session.items)} bytes={len(data)} tracked={expected}"
            )
            lines.append(f"  wire: {compact(data)}")
        lines += ["  error:", *("    " + line for line in self.error.splitlines())]
        lines += ["  daemon log:", *("    " + line for line in self.log[-10:])]
        return "\n".join(lines)

    def record(self) -> dict[str, Any]:
        """A JSON line for the findings file (`--replay` reads it back)."""
        out: dict[str, Any] = {
            "signature": self.signature,
            "methods": self.methods,
            "reproduced": self.reproduced,
            "error": self.error,
            "log": self.log[-20:],
        }
        if self.session is not None:
            out["session"] = {
                "framing": self.session.framing,
                "split": self.session.split,
                "cuts": self.session.cuts,
                "drop": self.session.drop,
                "items": [
                    {
                        "body_b64": base64.b64encode(item.body).decode(),
                        "tracked": list(item.tracked),
                        "raw": item.raw,
                        "breaks": item.breaks,
                    }
                    for item in self.session.items
                ],
            }
        return out


class FuzzFindings(AssertionError):
    """A round found something: one or more distinct failures."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("\n\n".join(f.describe() for f in findings))
        self.findings = findings


def compact(data: bytes, limit: int = 3000) -> str:
    """`data` as a bytes literal, runs of one byte written as `<N x b'q'>`."""
    parts = []
    at = 0
    for match in re.finditer(rb"(.)\1{15,}", data, re.DOTALL):
        if match.start() > at:
            parts.append(repr(data[at : match.start()]))
        parts.append(f"<{len(match.group(0))} x {match.group(1)!r}>")
        at = match.end()
    if at < len(data) or not parts:
        parts.append(repr(data[at:]))
    text = " ".join(parts)
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text)} chars)"


def signature(exc: BaseException) -> str:
    """What tells failures apart: the type, where it was raised, and the
    message with request ids and numbers left out."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        where = (
            f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_frame.f_code.co_name}"
        )
        tb = tb.tb_next
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"'t\d+'", "'t#'", text)
    text = re.sub(r"\d+", "#", text)[:160]
    return f"{type(exc).__name__} at {where}: {text}"


def _methods(session: Session) -> list[str]:
    found: list[str] = []
    for item in session.items:
        for match in re.finditer(rb'"method": ?"([a-z_.]+)"', item.body):
            name = match.group(1).decode()
            if name not in found:
                found.append(name)
    return found


def _leaves(exc: BaseException) -> list[tuple[BaseException, bool]]:
    """The failures inside Hypothesis' report; False when flaky."""
    if isinstance(exc, FlakyFailure):
        return [(leaf, False) for leaf, _ in _leaves_of(exc)]
    return _leaves_of(exc)


def _leaves_of(exc: BaseException) -> list[tuple[BaseException, bool]]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [(exc, True)]


def _error_text(exc: BaseException) -> str:
    where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return f"{type(exc).__name__}: {exc}\n{where}"[-4000:]


def fuzz(
    target: Target,
    stats: Stats,
    *,
    examples: int,
    seed_value: int | None = None,
    budget_s: float | None = None,
    min_sessions: int = 0,
    shrink: bool = True,
) -> None:
    """Run up to `examples` sessions drawn by Hypothesis (for at most
    `budget_s` of sessions, but at least `min_sessions`); raise `FuzzFindings` with every distinct
    failure found (each with its minimised session)."""
    stop_at = time.monotonic() + budget_s if budget_s is not None else None
    # The session that last failed with each signature: Hypothesis replays
    # each distinct failure's minimal example last, so this ends minimal.
    failed: dict[str, Session] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
        report_multiple_bugs=True,
    )
    @given(session=sessions(target))
    def one(session: Session) -> None:
        if (
            stop_at is not None
            and time.monotonic() > stop_at
            and stats.sessions >= min_sessions
        ):
            return  # out of time: the remaining examples are no-ops
        try:
            run_session(target, session, stats)
            target.alive()
        except Exception as exc:
            failed[signature(exc)] = session
            raise

    if seed_value is not None:
        one = seed(seed_value)(one)
    findings: list[Finding] = []
    try:
        one()
    except Exception as report:  # noqa: BLE001 - every failure is a finding
        log = target.log().splitlines()
        for exc, reproduced in _leaves(report):
            sig = signature(exc)
            session = failed.get(sig)
            findings.append(
                Finding(
                    sig,
                    _error_text(exc),
                    _methods(session) if session else [],
                    session,
                    reproduced,
                    log,
                )
            )
    if target.proc.poll() is None:
        try:
            control: Any = target.control()
        except Exception as exc:  # noqa: BLE001 - a finding of its own
            control = f"the control client failed: {exc!r}"
        if control != target.baseline:
            findings.append(
                Finding(
                    "control results changed",
                    f"before: {target.baseline}\nafter:  {control}",
                    [],
                    None,
                )
            )
        crashes = target.crashes_logged()
        if crashes:
            findings.append(
                Finding("isolated crashes logged", "\n".join(crashes[-5:]), [], None,
                        log=crashes)
            )  # fmt: skip
    if findings:
        raise FuzzFindings(findings)


def replay(target: Target, path: Path) -> int:
    """Play the sessions of a findings file again; how many still fail."""
    failing = 0
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "session" not in record:
            continue
        raw = record["session"]
        session = Session(
            raw["framing"],
            [
                Item(base64.b64decode(i["body_b64"]), tuple(i["tracked"]), i["raw"],
                     i["breaks"])
                for i in raw["items"]
            ],
            raw["split"],
            raw["cuts"],
            raw["drop"],
        )  # fmt: skip
        try:
            run_session(target, session, Stats())
            target.alive()
            print(f"passes now: {record['signature']}", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported
            failing += 1
            print(f"still fails: {record['signature']}\n  {exc!r}", flush=True)
    return failing


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the daemon under test is stopped


def main(argv: list[str] | None = None) -> int:
    """Fuzz for `--minutes`; print the figures and every distinct finding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--round", type=int, default=200, help="sessions per round")
    parser.add_argument("--seed", type=int, help="replay a run (Hypothesis seed)")
    parser.add_argument("--no-shrink", action="store_true", help="report unshrunk")
    parser.add_argument(
        "--findings",
        type=Path,
        default=Path("fuzz-findings.jsonl"),
        help="where each distinct finding is appended (JSON lines)",
    )
    parser.add_argument("--replay", type=Path, help="replay a findings file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    base = Path(tempfile.mkdtemp(prefix="axdfz-", dir="/tmp"))
    target = Target(base / "0")
    if args.replay is not None:
        try:
            return 1 if replay(target, args.replay) else 0
        finally:
            target.stop()
            shutil.rmtree(base, ignore_errors=True)
    stats = Stats()
    started = time.monotonic()
    seen: dict[str, int] = {}  # signature -> how many rounds found it
    rounds = restarts = 0
    try:
        while time.monotonic() - started < args.minutes * 60:
            rounds += 1
            try:
                fuzz(
                    target,
                    stats,
                    examples=args.round,
                    seed_value=args.seed,
                    shrink=not args.no_shrink,
                )
            except FuzzFindings as found:
                for finding in found.findings:
                    seen[finding.signature] = seen.get(finding.signature, 0) + 1
                    if seen[finding.signature] > 1:
                        print(f"again: {finding.signature}", flush=True)
                        continue
                    print(finding.describe(), flush=True)
                    with args.findings.open("a") as out:
                        out.write(json.dumps(finding.record()) + "\n")
            if target.proc.poll() is not None:  # a finding killed it: go on
                restarts += 1
                target.stop()
                target = Target(base / str(restarts))
            print(
                f"{time.monotonic() - started:7.0f} s  sessions {stats.sessions}  "
                f"messages {stats.messages}  answers {stats.answers}  "
                f"distinct findings {len(seen)}",
                flush=True,
            )
    finally:
        rss = _rss_kb(target.proc.pid)
        target.stop()
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "minutes": round(elapsed / 60, 1),
                "rounds": rounds,
                "sessions": stats.sessions,
                "messages": stats.messages,
                "bytes_sent": stats.bytes_sent,
                "answers_checked": stats.answers,
                "tracked_requests": stats.tracked,
                "dropped_mid_frame": stats.dropped,
                "broken_framing": stats.broken,
                "daemon_rss_kb_at_end": rss,
                "daemon_restarts": restarts,
                "distinct_findings": seen,
                "findings_file": str(args.findings) if seen else None,
                "daemon_logs": str(base) if seen else None,
            },
            indent=2,
        )
    )
    if not seen:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if seen else 0


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
