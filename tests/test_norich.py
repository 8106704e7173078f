"""The daemon's processes leave rich out (#16 target 2: memory).

structlog imports rich whenever it is installed; the daemon and its workers
never render rich text. Each case runs in a fresh interpreter, started the
way the daemon (``python -P -m axd.daemon``) or the workers' forkserver (its
preload list, in order) start, and looks at what that process imported.
"""

from __future__ import annotations

from support import run_python as run

from axd.daemon.index import forkserver


def test_the_daemon_started_as_a_module_imports_no_rich() -> None:
    # `python -m axd.daemon --help`: the daemon's modules are all imported
    # (structlog among them) before argparse prints the help and exits.
    out = run(
        "import runpy, sys\n"
        "sys.argv = ['axd.daemon', '--help']\n"
        "try:\n"
        "    runpy.run_module('axd.daemon', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('structlog' in sys.modules, sys.modules.get('rich', 'absent'))\n"
    )
    assert out.splitlines()[-1] == "True None"


def test_the_forkserver_imports_no_rich_and_logs_tracebacks_plainly() -> None:
    assert forkserver.PRELOAD_MODULES[0] == "axd.daemon.norich"
    out = run(
        "import sys\n"
        f"for name in {forkserver.PRELOAD_MODULES!r}:\n"
        "    __import__(name)\n"
        "import structlog\n"
        "structlog.configure(processors=[structlog.dev.ConsoleRenderer(colors=False)],"
        " logger_factory=structlog.PrintLoggerFactory(sys.stdout))\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    structlog.get_logger().exception('failed')\n"
        "print(sys.modules.get('rich', 'absent'))\n"
    )
    assert "ZeroDivisionError" in out
    assert "Traceback (most recent call last)" in out
    assert out.splitlines()[-1] == "None"


def test_a_process_that_already_has_rich_keeps_it() -> None:
    out = run(
        "import sys, rich\n"
        "import axd.daemon.norich\n"
        "import rich.console\n"
        "print(sys.modules['rich'] is not None)\n"
    )
    assert out == "True"
