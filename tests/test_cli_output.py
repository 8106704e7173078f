"""What `axd` prints for people: every command's human output, asserted.

Each command runs as a real `axd` subprocess (coverage follows it) against
the real in-process daemon of the `daemon` fixture, on a small indexed tree
with an import cycle, an ignored file and a file of no known language.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest
from support import environment_for

from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

GUARD_S = 60  # hang guard only

CALC = '''import util


def add_numbers(a: int, b: int) -> int:
    """Add two numbers, the first doubled."""
    return util.double(a) + b


class Calculator:
    def total(self) -> int:
        return add_numbers(1, 2)
'''

UTIL = """import calc


def double(x: int) -> int:
    return x * 2


def triple(x: int) -> int:
    return calc.add_numbers(x, x) + x
"""


AXD = [sys.executable, "-c", "from axd.client.cli import run; run()"]


class Cli:
    """`axd ...` as a real subprocess: (exit code, stdout, stderr)."""

    def __init__(self, config: Config) -> None:
        # Wide enough that rich never wraps a tmp path inside a table cell.
        self.env = environment_for(config) | {"COLUMNS": "250"}

    async def __call__(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        with anyio.fail_after(GUARD_S):
            done = await anyio.run_process(
                [*AXD, "--no-start", *args],
                env=self.env | (env or {}),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "util.py").write_text(UTIL)
    (root / ".gitignore").write_text("generated.py\n")
    (root / "generated.py").write_text("X = 1\n")
    (root / "notes.unknownext").write_text("not code\n")
    return root


@pytest.fixture
def cli(daemon: Daemon, config: Config) -> Cli:
    return Cli(config)


async def indexed(cli: Cli, tree: Path) -> None:
    code, out, _ = await cli("add", str(tree), "--wait")
    assert code == 0
    assert out == f"{tree}: ready\n"


async def test_status_add_and_remove(cli: Cli, tree: Path) -> None:
    code, out, _ = await cli("status")
    assert code == 0
    first, rest = out.split("\n", 1)
    assert re.fullmatch(r"axd \S+ · pid \d+ · up \d+ s · metrics http://\S+", first)
    assert "no workspaces (add one with `axd add ROOT`)" in rest

    await indexed(cli, tree)
    code, out, _ = await cli("status")
    header = out.splitlines()[2]
    for column in ("root", "state", "files", "chunks", "symbols", "generation"):
        assert column in header
    row = next(line for line in out.splitlines() if str(tree) in line)
    cells = [cell.strip() for cell in re.split(r"[│┃|]", row) if cell.strip()]
    assert cells[:3] == [str(tree), "ready", "2"]  # calc.py and util.py
    code, out, _ = await cli("add", str(tree))  # again: the existing one
    assert (code, out) == (0, f"{tree}: ready\n")

    code, out, _ = await cli("remove", str(tree), "--purge")
    assert (code, out) == (0, "removed\n")
    code, out, err = await cli("remove", str(tree))
    assert code == 1 and out == ""
    assert err.startswith(f"axd: {tree} is not inside any workspace")
    assert err.rstrip().endswith("[unknown_workspace]")


async def test_queries(cli: Cli, tree: Path) -> None:
    await indexed(cli, tree)
    root = ["--root", str(tree)]

    code, out, _ = await cli("search", "add_numbers", *root)
    assert code == 0
    lines = out.splitlines()
    assert re.fullmatch(r"calc\.py:\d+:1 function add_numbers  \(\d+\.\d\d\)", lines[0])
    assert lines[1].startswith("    ")  # the snippet, indented
    code, out, _ = await cli("search", "zzzznothing", *root)
    assert (code, out) == (0, "no results\n")

    code, out, _ = await cli("def", "add_numbers", *root)
    assert code == 0
    assert out.splitlines()[0] == "calc.py:4:5  function add_numbers"
    assert out.splitlines()[1].startswith("    def add_numbers(a: int, b: int)")
    code, out, _ = await cli("def", "no_such_name", *root)
    assert (code, out) == (0, "no definition found\n")

    code, out, _ = await cli("refs", "add_numbers", *root)
    assert code == 0
    paths = sorted(line.split(":", 1)[0] for line in out.splitlines())
    assert paths == ["calc.py", "util.py"]
    assert any("calc.add_numbers(x, x)" in line for line in out.splitlines())
    code, out, _ = await cli("refs", "no_such_name", *root)
    assert (code, out) == (0, "no references found\n")

    code, out, _ = await cli("outline", str(tree / "calc.py"), *root)
    assert code == 0
    assert out.splitlines()[0] == str(tree / "calc.py")
    assert re.search(r"function add_numbers  :4$", out, re.MULTILINE)
    assert re.search(r"class Calculator  :9$", out, re.MULTILINE)
    assert re.search(r"method total  :10$", out, re.MULTILINE)


async def test_explain(cli: Cli, tree: Path) -> None:
    await indexed(cli, tree)
    root = ["--root", str(tree)]
    code, out, _ = await cli("explain", str(tree / "calc.py"), *root)
    assert code == 0
    assert re.fullmatch(
        r"calc\.py: indexed as python at generation \d+: \d+ chunks, 3 symbols, "
        r"0 parse errors\n",
        out,
    )
    code, out, _ = await cli("explain", str(tree / "generated.py"), *root)
    assert out == "generated.py: ignored by .gitignore:1: generated.py\n"
    code, out, _ = await cli("explain", str(tree / "notes.unknownext"), *root)
    assert out.startswith("notes.unknownext: not indexed: ")
    code, out, err = await cli("explain", "/elsewhere/x.py", *root)
    assert code == 1 and out == ""
    assert err.startswith("axd: ") and err.count("\n") == 1


async def test_graph(cli: Cli, tree: Path) -> None:
    await indexed(cli, tree)
    root = ["--root", str(tree)]
    code, out, _ = await cli("flow", str(tree / "calc.py"), *root)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == str(tree / "calc.py")
    text = "\n".join(lines)
    assert "imports" in text and "util → util.py" in text
    assert "imported by" in text and "util.py:1" in text
    assert "depends on (transitively)" in text and "util.py (depth 1)" in text

    code, out, _ = await cli("cycles", *root)
    assert code == 0
    assert out in ("calc.py → util.py → calc.py\n", "util.py → calc.py → util.py\n")

    (tree / "util.py").write_text("def double(x: int) -> int:\n    return x * 2\n")
    code, out, _ = await cli("call", "index.wait", f'{{"root": "{tree}"}}')
    assert code == 0
    code, out, _ = await cli("cycles", *root)
    assert (code, out) == (0, "no import cycles\n")


async def test_ops_commands(cli: Cli, tree: Path, client: AsyncClient) -> None:
    await indexed(cli, tree)
    code, out, _ = await cli("health")
    report = await client.call(m.HEALTH)
    assert code == (0 if report.status == "HEALTHY" else 1)
    assert out.startswith("status: ")
    for check in report.checks:
        assert re.search(rf"^\W*{check}\W", out, re.MULTILINE), check

    code, out, _ = await cli("metrics")
    assert code == 0
    assert "# TYPE axd_requests_total counter" in out
    assert out.endswith("\n") and not out.endswith("\n\n")

    code, out, _ = await cli("call", "server.info")
    assert code == 0 and out.startswith("{\n  ") and '"pid"' in out
    code, out, _ = await cli("--json", "call", "server.info")
    assert code == 0 and out.count("\n") == 1 and out.startswith('{"')
    code, out, err = await cli("call", "server.info", "{not json")
    assert code == 2 and out == ""
    assert err.startswith("axd: JSON-PARAMS is not valid JSON")
    code, out, err = await cli("call", "no.such.method")
    assert code == 1
    assert err == "axd: method not found: no.such.method [method_not_found]\n"


async def test_config_commands(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nmax_batch = 10\n")
    code, out, _ = await cli("config", "check", str(good))
    assert (code, out) == (0, f"{good}: ok\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nmax_btch = 10\n")
    code, out, err = await cli("config", "check", str(bad))
    assert code == 1 and out == ""
    assert "server.max_btch" in err and "unknown key" in err

    code, out, _ = await cli("config", "show")
    assert code == 0
    assert "\n[server]\n" in out and "max_batch = 256" in out
    assert "\n[index]\n" in out and "exclude = []" in out


async def test_stop(cli: Cli, daemon: Daemon) -> None:
    code, out, _ = await cli("stop")
    assert (code, out) == (0, f"stopped axd (pid {os.getpid()})\n")


async def test_watch_prints_each_change(
    config: Config, daemon: Daemon, client: AsyncClient, tree: Path
) -> None:
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(tree)))
    await client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(tree), timeout_s=GUARD_S)
    )
    args = ["--no-start", "watch", "--progress", "--root", str(tree)]
    process = await anyio.open_process(
        [*AXD, *args],
        env=environment_for(config) | {"COLUMNS": "250"},
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        with anyio.fail_after(GUARD_S):
            banner = b""
            while b"\n" not in banner:
                banner += await process.stderr.receive()
            assert banner.decode() == f"axd: watching {tree} (Ctrl-C to stop)\n"
            # Subscribed once the banner is out: this change is seen.
            (tree / "new.py").write_text("def fresh() -> None:\n    pass\n")
            seen = b""
            while b"new.py" not in seen:
                seen += await process.stdout.receive()
        line = next(x for x in seen.decode().splitlines() if "new.py" in x)
        assert re.fullmatch(r"\s*\d+  added     new\.py", line), line
    finally:
        process.terminate()
        await process.wait()
        await process.aclose()


async def test_the_workspace_is_found_from_the_current_directory(
    cli: Cli, tree: Path, tmp_path: Path
) -> None:
    await indexed(cli, tree)
    inside = tree / "sub"
    inside.mkdir()
    code, out, _ = await cli("def", "double", cwd=inside)
    assert (code, out.splitlines()[0]) == (0, "util.py:4:5  function double")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code, out, err = await cli("def", "double", cwd=outside)
    assert code == 1 and out == ""
    assert err.startswith(f"axd: {outside} is not inside any workspace")


async def test_add_wait_draws_progress_on_a_terminal(
    cli: Cli, tree: Path, config: Config
) -> None:
    for n in range(300):  # enough files for progress to be reported
        (tree / f"mod{n}.py").write_text(
            f"def function_{n}() -> int:\n    return {n}\n"
        )
    controller, terminal = os.openpty()
    try:
        with anyio.fail_after(GUARD_S):
            done = await anyio.run_process(
                [*AXD, "--no-start", "add", str(tree), "--wait"],
                env=cli.env,
                stdin=subprocess.DEVNULL,
                stderr=terminal,
                check=False,
            )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 1 << 16)
            except OSError:  # EIO: the terminal's side is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    assert done.stdout.decode() == f"{tree}: ready\n"
    assert b"indexing" in drawn  # the bar, on stderr's terminal; stdout clean


async def test_config_show_names_a_broken_file(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[index]\nworkers = 'many'\n")
    code, out, err = await cli("config", "show", env={"AXD_CONFIG": str(bad)})
    assert code == 1 and out == ""
    assert "index.workers" in err and err.count("\n") == 1


async def test_global_options_around_the_daemon_command(
    cli: Cli, config: Config
) -> None:
    socket = f"--socket={config.socket_path}"
    code, out, _ = await cli("--json", socket, "daemon", "--help")
    assert code == 0 and "usage:" in out
    code, out, err = await cli("--bogus", "daemon")
    assert code == 2 and out == ""
    assert "unrecognized arguments: --bogus" in err or "invalid choice" in err


async def test_watch_json_prints_one_object_per_notification(
    config: Config, daemon: Daemon, client: AsyncClient, tree: Path
) -> None:
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(tree)))
    await client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(tree), timeout_s=GUARD_S)
    )
    process = await anyio.open_process(
        [*AXD, "--no-start", "--json", "watch", "--root", str(tree)],
        env=environment_for(config),
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(GUARD_S):
            # --json prints no banner: write until the subscription sees it.
            seen = b""
            n = 0
            while b"new" not in seen:
                (tree / f"new{n}.py").write_text("X = 1\n")
                n += 1
                with anyio.move_on_after(1):
                    seen += await process.stdout.receive()
        first = json.loads(seen.decode().splitlines()[0])
        assert first["method"] == "index.changed"
        assert first["params"]["changes"][0]["change"] in ("added", "modified")
    finally:
        process.terminate()
        await process.wait()
        await process.aclose()
