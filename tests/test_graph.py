"""The import graph: walks, cycles, and resolution kept right incrementally."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from store_records import FileSpec, indexed

from axd.daemon.query import graph
from axd.daemon.records import FileOutcome
from axd.daemon.store.batch import GRAPH_GENERATION
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def module(
    path: str, *imports: str, language: str = "python", tail: str = ""
) -> FileOutcome:
    """A file whose body is one import line per module, then `tail`."""
    keyword = "import" if language == "python" else "from"
    text = "".join(f"{keyword} {m!s}\n" for m in imports) + tail
    spec = FileSpec(
        path, text, language, imports=[(m, f"{keyword} {m!s}\n") for m in imports]
    )
    return indexed(spec)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "index.db", root=tmp_path)
    yield opened
    opened.close()


def edges(store: Store, path: str) -> list[tuple[str, str | None]]:
    with store.reader() as conn:
        return [(e.module, e.path) for e in graph.imports(conn, path)]


def test_dependencies_and_dependents_by_depth(store: Store) -> None:
    store.apply_batch(
        [
            module("main.py", "os", "a", "util.helpers"),
            module("a.py", "b"),
            module("b.py", "a", "c"),
            module("c.py"),
            module("util/__init__.py"),
            module("util/helpers.py", "re"),
        ],
        [],
    )
    with store.reader() as conn:
        deps = {p.path: p.depth for p in graph.dependencies(conn, "main.py")}
        assert deps == {"a.py": 1, "util/helpers.py": 1, "b.py": 2, "c.py": 3}
        near = graph.dependencies(conn, "main.py", depth=1)
        assert [(p.path, p.depth) for p in near] == [
            ("a.py", 1),
            ("util/helpers.py", 1),
        ]
        assert graph.dependencies(conn, "main.py", depth=0) == []
        back = {p.path: p.depth for p in graph.dependents(conn, "c.py")}
        assert back == {"b.py": 1, "a.py": 2, "main.py": 3}
        assert [p.path for p in graph.dependents(conn, "b.py", depth=1)] == ["a.py"]
        assert graph.dependents(conn, "nope.py") == []
        importers = graph.importers(conn, "util/helpers.py")
        assert [(i.path, i.module) for i in importers] == [("main.py", "util.helpers")]
        assert graph.cycles(conn) == [["a.py", "b.py"]]
    assert edges(store, "main.py") == [
        ("os", None),
        ("a", "a.py"),
        ("util.helpers", "util/helpers.py"),
    ]


def test_imports_follow_files_added_and_deleted_later(store: Store) -> None:
    store.apply_batch([module("main.py", "lib", "pkg.mod")], [])
    assert edges(store, "main.py") == [("lib", None), ("pkg.mod", None)]
    store.apply_batch([module("src/lib.py"), module("src/pkg/mod.py")], [])
    assert edges(store, "main.py") == [
        ("lib", "src/lib.py"),
        ("pkg.mod", "src/pkg/mod.py"),
    ]
    # A better candidate (the workspace root comes before src/) takes over.
    store.apply_batch([module("lib.py")], [])
    assert edges(store, "main.py")[0] == ("lib", "lib.py")
    store.apply_batch([], ["lib.py"])
    assert edges(store, "main.py")[0] == ("lib", "src/lib.py")
    store.apply_batch(
        [FileOutcome(path="src/lib.py", status="missing")], ["src/pkg/mod.py"]
    )
    assert edges(store, "main.py") == [("lib", None), ("pkg.mod", None)]
    # A re-indexed target keeps its importers.
    store.apply_batch([module("src/lib.py")], [])
    store.apply_batch([module("src/lib.py", "os")], [])
    assert edges(store, "main.py")[0] == ("lib", "src/lib.py")


def test_tsconfig_paths_apply_when_the_config_appears(store: Store) -> None:
    ts = "typescript"
    store.apply_batch([module("web/src/index.ts", "@lib/fmt", language=ts)], [])
    store.apply_batch([module("web/lib/fmt.ts", language=ts)], [])
    assert edges(store, "web/src/index.ts") == [("@lib/fmt", None)]
    config = '{"compilerOptions": {"paths": {"@lib/*": ["lib/*"]}}}'
    store.apply_batch([indexed(FileSpec("web/tsconfig.json", config, "json"))], [])
    assert edges(store, "web/src/index.ts") == [("@lib/fmt", "web/lib/fmt.ts")]
    store.apply_batch([], ["web/tsconfig.json"])
    assert edges(store, "web/src/index.ts") == [("@lib/fmt", None)]


def test_go_mod_is_read_from_disk(store: Store, tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/m\n")
    store.apply_batch(
        [
            module("cmd/main.go", "example.com/m/util", language="go"),
            module("util/u.go", language="go"),
        ],
        [],
    )
    assert edges(store, "cmd/main.go") == [("example.com/m/util", "util/u.go")]


def test_self_import_is_a_cycle(store: Store) -> None:
    store.apply_batch([module("s.py", "s"), module("t.py", "s")], [])
    with store.reader() as conn:
        assert graph.cycles(conn) == [["s.py"]]
        assert graph.cycles(conn, limit=0) == []


def test_planted_cycles_in_a_random_dag(store: Store) -> None:
    rng = random.Random(7)
    n = 2000
    names = [f"m{i:04d}" for i in range(n)]
    successors: dict[int, set[int]] = {i: set() for i in range(n)}
    cycle_nodes = [[1990, 1991], [1992, 1993, 1994], [1995, 1996, 1997, 1998, 1999]]
    planted = {node for cycle in cycle_nodes for node in cycle}
    for i in range(1990):
        for _ in range(3):
            j = rng.randrange(i + 1, n)  # forward edges only: acyclic, may enter cycles
            successors[i].add(j)
    for cycle in cycle_nodes:
        for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
            successors[a].add(b)
    outcomes = [
        module(f"{names[i]}.py", *(names[j] for j in sorted(successors[i])))
        for i in range(n)
    ]
    rng.shuffle(outcomes)
    for start in range(0, n, 500):  # several batches: edges resolve across them
        store.apply_batch(outcomes[start : start + 500], [])
    with store.reader() as conn:
        found = graph.cycles(conn)
    expected = [[f"{names[i]}.py" for i in cycle] for cycle in cycle_nodes]
    assert found == expected
    assert planted == {int(p[1:5]) for cycle in found for p in cycle}


def test_cycles_are_not_recomputed_for_saves_that_keep_every_import(
    store: Store,
) -> None:
    store.apply_batch([module("a.py", "b"), module("b.py", "a"), module("c.py")], [])
    with store.reader() as conn:
        assert graph.cycles(conn) == [["a.py", "b.py"]]
        before = graph._state_key(conn)
    # Re-indexed with other text and the same imports: a new generation,
    # the same graph, so the same cache key.
    store.apply_batch([module("a.py", "b", tail="# edited\n"), module("c.py", "a")], [])
    with store.reader() as conn:
        assert graph._state_key(conn) != before  # c.py's new import
    store.apply_batch([module("a.py", "b", tail="# edited again\n")], [])
    with store.reader() as conn:
        kept = graph._state_key(conn)
    store.apply_batch([module("b.py", "a", tail="# and b\n")], [])
    with store.reader() as conn:
        assert graph._state_key(conn) == kept
        assert graph.cycles(conn) == [["a.py", "b.py"]]


def test_an_index_from_before_the_graph_key_is_given_one_at_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old" / "index.db"
    store = Store.open(path, root=tmp_path)
    store.apply_batch([module("a.py", "b"), module("b.py", "a")], [])
    generation = store.generation
    with store.exclusive() as conn, conn:  # as an index written before the key
        conn.execute("DELETE FROM meta WHERE key = ?", (GRAPH_GENERATION,))
    with store.reader() as conn:
        assert graph._state_key(conn)[2] == "generation"  # type: ignore[index]
        assert graph.cycles(conn) == [["a.py", "b.py"]]
    store.close()
    reopened = Store.open(path, root=tmp_path)
    try:
        with reopened.reader() as conn:
            assert graph._state_key(conn)[2:] == ("graph", generation)  # type: ignore[index]
            assert graph.cycles(conn) == [["a.py", "b.py"]]
        assert reopened.generation == generation  # no new generation for it
    finally:
        reopened.close()


def test_cached_cycles_follow_an_import_resolved_elsewhere(store: Store) -> None:
    """A file added with no import of its own can still change the graph:
    an import that resolved to a package now resolves to the new module."""
    store.apply_batch([module("a.py", "pkg"), module("pkg/__init__.py", "a")], [])
    with store.reader() as conn:
        assert graph.cycles(conn) == [["a.py", "pkg/__init__.py"]]
    store.apply_batch([module("pkg.py")], [])
    with store.reader() as conn:
        assert [e.path for e in graph.imports(conn, "a.py")] == ["pkg.py"]
        assert graph.cycles(conn) == []


def test_cached_cycles_follow_every_change_to_the_graph(store: Store) -> None:
    """After each batch of random edits, deletions and saves that keep the
    imports, the cached answer is the one computed from scratch."""
    rng = random.Random(11)
    names = [f"n{i}" for i in range(8)]
    present: set[str] = set()
    changed_keys = 0
    with store.reader() as conn:
        previous = graph._state_key(conn)
    for step in range(60):
        outcomes: list[FileOutcome] = []
        deleted: list[str] = []
        for name in rng.sample(names, rng.randint(1, 3)):
            action = rng.random()
            if name in present and action < 0.2:
                deleted.append(f"{name}.py")
                present.discard(name)
                continue
            targets = rng.sample(names, rng.randint(0, 3))
            if name in present and action < 0.5:
                targets = []  # filled below from what is stored
                with store.reader() as conn:
                    targets = [e.module for e in graph.imports(conn, f"{name}.py")]
            outcomes.append(module(f"{name}.py", *targets, tail=f"# {step}\n"))
            present.add(name)
        store.apply_batch(outcomes, deleted)
        with store.reader() as conn:
            key = graph._state_key(conn)
            changed_keys += key != previous
            previous = key
            assert graph.cycles(conn) == graph._all_cycles(conn), step
    assert 0 < changed_keys < 60  # some saves kept the graph, some changed it


def test_tarjan_is_iterative_on_long_chains() -> None:
    n = 200_000
    successors = {i: [i + 1] for i in range(n - 1)}
    successors[n - 1] = [0]  # one huge cycle
    components = graph.strongly_connected(successors)
    assert len(components) == 1 and len(components[0]) == n
    chain = {i: [i + 1] for i in range(n - 1)}
    assert all(len(c) == 1 for c in graph.strongly_connected(chain))


def test_a_shared_config_the_package_config_extends_is_followed(store: Store) -> None:
    """A monorepo writes `paths` once, in a base config each package's
    tsconfig.json extends; an edit of that base re-resolves the imports
    under every config that extends it, wherever it sits."""
    ts = "typescript"
    base = '{"compilerOptions": {"paths": {"@acme/server": ["%s"]}}}'
    store.apply_batch(
        [
            module("apps/client/src/main.ts", "@acme/server", language=ts),
            module("libs/server/src/index.ts", language=ts),
            module("libs/server/src/next.ts", language=ts),
            indexed(
                FileSpec(
                    "apps/client/tsconfig.json",
                    '{"extends": "../../config/tsconfig.base"}',
                    "json",
                )
            ),
            indexed(
                FileSpec(
                    "config/tsconfig.base.json", base % "../libs/server/src", "json"
                )
            ),
        ],
        [],
    )
    assert edges(store, "apps/client/src/main.ts") == [
        ("@acme/server", "libs/server/src/index.ts")
    ]
    changed = base % "../libs/server/src/next.ts"
    store.apply_batch(
        [indexed(FileSpec("config/tsconfig.base.json", changed, "json"))], []
    )
    assert edges(store, "apps/client/src/main.ts") == [
        ("@acme/server", "libs/server/src/next.ts")
    ]
    store.apply_batch([], ["config/tsconfig.base.json"])
    assert edges(store, "apps/client/src/main.ts") == [("@acme/server", None)]


def test_a_workspace_crate_resolves_by_name_once_its_manifest_appears(
    store: Store,
) -> None:
    rust = "rust"
    store.apply_batch(
        [
            module("app/src/main.rs", "util_crate::helpers::slug", language=rust),
            indexed(FileSpec("app/Cargo.toml", '[package]\nname = "app"\n', "toml")),
            module("libs/util/src/lib.rs", language=rust),
            module("libs/util/src/helpers.rs", language=rust),
        ],
        [],
    )
    assert edges(store, "app/src/main.rs") == [("util_crate::helpers::slug", None)]
    manifest = '[package]\nname = "util-crate"\n'
    store.apply_batch([indexed(FileSpec("libs/util/Cargo.toml", manifest, "toml"))], [])
    assert edges(store, "app/src/main.rs") == [
        ("util_crate::helpers::slug", "libs/util/src/helpers.rs")
    ]
    store.apply_batch([], ["libs/util/Cargo.toml"])
    assert edges(store, "app/src/main.rs") == [("util_crate::helpers::slug", None)]
