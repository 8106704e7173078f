"""A real editor: headless Neovim's built-in LSP client attached to `axd lsp`.

`tests/nvim_lsp.lua` opens a file of the sample tree, starts `axd lsp` as the
buffer's language server, asks for the definition of the identifier at a
position and for workspace symbols, and writes the answers as JSON. Skipped
when `nvim` is not installed (`.ci/run` installs Debian's `neovim`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from lsp_support import AXD_LSP, position, span, uri, write_tree
from support import environment_for

from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

NVIM = shutil.which("nvim")
SCRIPT = Path(__file__).with_name("nvim_lsp.lua")

pytestmark = pytest.mark.skipif(
    NVIM is None, reason="nvim is not installed (Debian: apt-get install neovim)"
)


async def test_neovim_goes_to_a_definition_and_lists_symbols(
    config: Config, daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    assert NVIM is not None
    repo = write_tree(tmp_path / "repo")
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(repo)))
    status = await client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(repo), timeout_s=120)
    )
    assert status.state == "ready", status
    use = position(repo, "py/shapes.py", "helper", nth=1)
    out = tmp_path / "answers.json"
    home = tmp_path / "home"  # Neovim's own state and logs stay in the test
    env = environment_for(config) | {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "AXD_NVIM_CMD": json.dumps([*AXD_LSP, "--no-start"]),
        "AXD_NVIM_ROOT": str(repo),
        "AXD_NVIM_FILE": str(repo / "py" / "shapes.py"),
        "AXD_NVIM_LINE": str(use.line),
        "AXD_NVIM_CHARACTER": str(use.character + 2),
        "AXD_NVIM_QUERY": "Greeter",
        "AXD_NVIM_OUT": str(out),
    }
    with anyio.fail_after(120):  # a hang guard: nvim waits 60 s at most itself
        done = await anyio.run_process(
            [NVIM, "--headless", "--clean", "-n", "-i", "NONE", "-S", str(SCRIPT)],
            env=env,
            cwd=repo,
            check=False,
        )
    assert out.exists(), done.stderr.decode(errors="replace")
    answers = json.loads(out.read_text())
    assert "error" not in answers, answers["error"]
    expected = span(repo, "py/util.py", "helper")
    assert answers["definition"] == [
        {
            "uri": uri(repo, "py/util.py"),
            "range": {
                "start": {
                    "line": expected.start.line,
                    "character": expected.start.character,
                },
                "end": {"line": expected.end.line, "character": expected.end.character},
            },
        }
    ]
    best = answers["symbols"][0]
    assert best["name"] == "Greeter"
    assert best["kind"] == 5  # SymbolKind.Class
    assert best["location"]["uri"] == uri(repo, "ts/app.ts")
