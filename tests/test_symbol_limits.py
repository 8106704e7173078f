"""Large generated files are indexed in full, or say exactly what was left out.

Issue #12: a 1.76 MB Python file of 30,000 functions kept only its first
20,000 symbols, and `files.explain` said nothing. Real daemon, real workers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog
from test_robust_index import add_and_wait, call, running

from axd.daemon.index.extract import extract

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

FUNCTIONS = 30_000
KEYS = 2_500  # JSON keys; the json language keeps 2,000 per file


def generated_python() -> str:
    return "".join(
        f"def generated_function_{n:05d}(value):\n    return value + {n}\n\n"
        for n in range(FUNCTIONS)
    )


def test_the_extractor_keeps_every_function_and_reports_a_shortfall() -> None:
    source = generated_python().encode()
    assert 1_500_000 < len(source) < 2 * 1024 * 1024
    extraction = extract(source, "python")
    assert len(extraction.symbols) == FUNCTIONS
    assert extraction.shortfall is None
    document = json.dumps({f"key_{n}": n for n in range(KEYS)}).encode()
    keys = extract(document, "json")
    assert len(keys.symbols) == 2_000
    assert keys.shortfall == "symbols: kept 2000 of 2500 (limit 2000 per file)"


async def test_files_explain_reports_what_limits_left_out(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "generated.py").write_text(generated_python(), "utf-8")
    keys = {f"key_{n}": n for n in range(KEYS)}
    (root / "keys.json").write_text(json.dumps(keys, indent=1), "utf-8")
    with structlog.testing.capture_logs() as logs:
        async with running(config) as (_, client):
            status = await add_and_wait(client, root)
            assert status["files_indexed"] == 2, status

            async def explain(path: str) -> dict[str, Any]:
                answer = await call(client, "files.explain", root=str(root), path=path)
                return answer  # type: ignore[no-any-return]

            full = await explain("generated.py")
            assert full["indexed"] is True
            assert full["symbols"] == FUNCTIONS
            assert full["detail"] is None
            last = f"generated_function_{FUNCTIONS - 1:05d}"
            found = await call(client, "symbols.definition", root=str(root), name=last)
            assert [d["path"] for d in found["definitions"]] == ["generated.py"]

            partial = await explain("keys.json")
            assert partial["indexed"] is True
            assert partial["symbols"] == 2_000
            assert partial["detail"] == (
                "symbols: kept 2000 of 2500 (limit 2000 per file)"
            )
    logged = [e for e in logs if e.get("event") == "file_indexed_in_part"]
    assert [(e["path"], e["detail"]) for e in logged] == [
        ("keys.json", "symbols: kept 2000 of 2500 (limit 2000 per file)")
    ]
