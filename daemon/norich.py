"""Imported first by the daemon's own processes: there, `import rich` fails.

structlog imports rich whenever it is installed (its console renderer
formats tracebacks with it), and rich pulls in pygments: 4 MB of Pss and
~50 ms of imports in the daemon, and again in the workers' forkserver, whose
pages every worker maps (#16 target 2, perf/RESULTS.md "#16 memory (round
7)"). rich is a dependency for the CLI's tables and trees; the daemon and
its workers write log lines, never rich text, and without rich structlog
prints plain tracebacks.

Imported by ``python -m axd.daemon`` (`axd.daemon.__main__`) and first in
the forkserver's preload list (`index/pool.py`), never by a module: a
process that also runs the CLI (a test) keeps rich. A process that already
imported rich keeps it too.
"""

import sys

sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
