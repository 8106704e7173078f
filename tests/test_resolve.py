"""Import resolution per language, against an in-memory file set."""

from __future__ import annotations

import pytest
from resolve_facts import DictFacts

from axd.daemon.index.resolve import (
    config_scope,
    file_components,
    import_key,
    parse_jsonc,
    resolve_import,
)


def facts(*paths: str, texts: dict[str, str] | None = None) -> DictFacts:
    files = dict.fromkeys(paths, "")
    files.update(texts or {})
    return DictFacts(files)


PY = facts(
    "a.py", "b.py", "main.py", "util/__init__.py", "util/helpers.py",
    "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py", "pkg/sub/sibling.py",
    "pkg/other.py", "src/lib/__init__.py", "src/lib/core.py", "tools/run.py", "tools/local.py",
    "deep/proj/app/__init__.py", "deep/proj/app/x.py", "deep/proj/app/y.py",
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        ("a", "main.py", "a.py"),
        ("util.helpers", "main.py", "util/helpers.py"),
        ("util", "main.py", "util/__init__.py"),
        ("os", "main.py", None),
        ("os.path", "main.py", None),
        (".sibling", "pkg/sub/mod.py", "pkg/sub/sibling.py"),
        (".", "pkg/sub/mod.py", "pkg/sub/__init__.py"),
        ("..other", "pkg/sub/mod.py", "pkg/other.py"),
        ("..", "pkg/sub/mod.py", "pkg/__init__.py"),
        (
            "...",
            "pkg/sub/mod.py",
            None,
        ),  # above the top-level package... the root has no __init__
        ("....x", "pkg/sub/mod.py", None),
        ("lib.core", "main.py", "src/lib/core.py"),  # src layout
        ("lib", "tests/test_x.py", "src/lib/__init__.py"),
        ("local", "tools/run.py", "tools/local.py"),  # a script's own directory
        ("app.y", "deep/proj/app/x.py", "deep/proj/app/y.py"),  # top-level package root
        ("pkg..x", "main.py", None),
    ],
)
def test_python(module: str, importer: str, expected: str | None) -> None:
    assert resolve_import(module, importer, "python", PY) == expected


WEB = facts(
    "web/src/parser.ts", "web/src/format.ts", "web/src/index.ts", "web/src/ui/index.tsx",
    "web/src/legacy.js", "web/src/types.d.ts", "web/src/data.json", "web/src/esm.ts",
    "web/lib/shared/strings.ts", "web/src/app/main.ts",
    texts={"web/tsconfig.json": """{
      // comments and trailing commas are allowed in tsconfig.json
      "compilerOptions": {
        "baseUrl": ".",
        "paths": {
          "@shared/*": ["lib/shared/*",],
          "@app": ["src/app/main.ts"],
        },
      },
    }"""},
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        ("./format", "web/src/parser.ts", "web/src/format.ts"),
        ("./parser", "web/src/index.ts", "web/src/parser.ts"),
        ("./ui", "web/src/index.ts", "web/src/ui/index.tsx"),
        (".", "web/src/ui/index.tsx", "web/src/ui/index.tsx"),
        ("..", "web/src/ui/index.tsx", "web/src/index.ts"),
        ("./legacy", "web/src/index.ts", "web/src/legacy.js"),
        ("./types", "web/src/index.ts", "web/src/types.d.ts"),
        ("./data.json", "web/src/index.ts", "web/src/data.json"),
        ("./esm.js", "web/src/index.ts", "web/src/esm.ts"),  # TS ESM: .js means .ts
        ("./missing", "web/src/index.ts", None),
        ("../../../outside", "web/src/index.ts", None),
        ("fs", "web/src/parser.ts", None),
        ("@shared/strings", "web/src/index.ts", "web/lib/shared/strings.ts"),
        ("@app", "web/src/index.ts", "web/src/app/main.ts"),
        ("src/format", "web/src/index.ts", "web/src/format.ts"),  # baseUrl
        ("react", "web/src/index.ts", None),
    ],
)
def test_typescript(module: str, importer: str, expected: str | None) -> None:
    assert resolve_import(module, importer, "typescript", WEB) == expected


MONOREPO = facts(
    "packages/server/src/index.ts", "packages/server/src/http.ts",
    "packages/client/src/link.ts", "packages/client/src/index.ts",
    "packages/web/src/app.ts", "packages/web/lib/util.ts", "packages/lone/src/a.ts",
    "packages/listed/src/a.ts", "packages/cycle/src/a.ts", "packages/pkg/src/a.ts",
    "node_modules/@acme/tsconfig/base.json", "shared/x.ts",
    texts={
        # paths written once, at the root (TypeScript: relative to this file)
        "tsconfig.json": """{"compilerOptions": {"paths": {
            "@trpc/server": ["./packages/server/src"],
            "@trpc/server/*": ["./packages/server/src/*"],
        }}}""",
        "packages/client/tsconfig.json": '{"extends": "../../tsconfig.json"}',
        # `.json` left out; its own baseUrl moves the base of inherited paths
        "packages/web/tsconfig.json": """{"extends": "../../tsconfig",
            "compilerOptions": {"baseUrl": "lib"}}""",
        # a base that is not there: the config counts alone
        "packages/lone/tsconfig.json": '{"extends": "./missing.json"}',
        # a list: the later base wins
        "packages/listed/tsconfig.json": """{"extends": [
            "../../tsconfig.json", "./tsconfig.paths.json"]}""",
        "packages/listed/tsconfig.paths.json": """{"compilerOptions": {
            "paths": {"@trpc/server": ["../../shared/x.ts"]}}}""",
        "packages/cycle/tsconfig.json": '{"extends": "./tsconfig.other.json"}',
        "packages/cycle/tsconfig.other.json": '{"extends": "./tsconfig.json"}',
        # a package base, found when the workspace indexes node_modules
        "packages/pkg/tsconfig.json": '{"extends": "@acme/tsconfig/base.json"}',
        "node_modules/@acme/tsconfig/base.json": """{"compilerOptions": {
            "baseUrl": "../../../shared"}}""",
    },
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        ("@trpc/server", "packages/client/src/link.ts", "packages/server/src/index.ts"),
        ("@trpc/server/http", "packages/client/src/link.ts", "packages/server/src/http.ts"),
        ("@trpc/server", "packages/server/src/http.ts", "packages/server/src/index.ts"),
        ("util", "packages/web/src/app.ts", "packages/web/lib/util.ts"),
        ("@trpc/server", "packages/web/src/app.ts", None),  # now under lib/
        ("@trpc/server", "packages/lone/src/a.ts", None),
        ("@trpc/server", "packages/listed/src/a.ts", "shared/x.ts"),
        ("@trpc/server", "packages/cycle/src/a.ts", None),
        ("x", "packages/pkg/src/a.ts", "shared/x.ts"),
    ],
)  # fmt: skip
def test_typescript_config_extends(
    module: str, importer: str, expected: str | None
) -> None:
    assert resolve_import(module, importer, "typescript", MONOREPO) == expected


@pytest.mark.parametrize(
    "config",
    [
        '{"extends": 5}',
        '{"extends": {"a": 1}}',
        '{"extends": [null, 3, "./tsconfig.json"]}',
        '{"extends": "."}',
        '{"extends": "/etc/tsconfig.json"}',
        '{"extends": "../../../../outside.json"}',
        '{"extends": "./data.bin"}',
        '{"compilerOptions": []}',
        '{"compilerOptions": {"paths": [], "baseUrl": 1}}',
        '{"compilerOptions": {"paths": {"@x": "not-a-list", "@y": [1, null]}}}',
        "[1, 2]",
        "{",
        "",
        '{"extends": ' + "[" * 100_000 + "]" * 100_000 + "}",  # past the parser's depth
    ],
)
def test_hostile_tsconfig_resolves_nothing_and_never_raises(config: str) -> None:
    files = facts(
        "app/src/a.ts", "app/data.bin", "outside.json",
        texts={"app/tsconfig.json": config, "app/data.bin": "\x00\xff{"},
    )  # fmt: skip
    for module in ("@x", "@y", "a", "src/a"):
        found = resolve_import(module, "app/src/a.ts", "typescript", files)
        assert found in (None, "app/src/a.ts")


def test_config_scope_of_shared_and_package_configs() -> None:
    js = frozenset({"javascript", "typescript", "tsx"})
    assert config_scope("packages/client/tsconfig.json") == ("packages/client", js)
    assert config_scope("config/tsconfig.base.json") == ("", js)
    assert config_scope("jsconfig.paths.json") == ("", js)
    assert config_scope("pkg/__init__.py") == ("pkg", frozenset({"python"}))
    assert config_scope("svc/vendor/modules.txt") == ("", frozenset({"go"}))
    assert config_scope("ext/fs/Cargo.toml") == ("", frozenset({"rust"}))
    assert config_scope("tsconfig.json.bak") is None
    assert config_scope("docs/config.json") is None


def test_bare_specifiers_without_tsconfig_do_not_resolve() -> None:
    files = facts("src/a.ts", "src/b.ts")
    assert resolve_import("b", "src/a.ts", "typescript", files) is None
    assert resolve_import("./b", "src/a.ts", "javascript", files) == "src/b.ts"


def test_parse_jsonc_keeps_strings_with_comment_markers() -> None:
    assert parse_jsonc('{"a": "http://x/*y*/", // c\n "b": [1,],}') == {
        "a": "http://x/*y*/",
        "b": [1],
    }


GO = facts(
    "go/cmd/main.go", "go/pkg/util/b.go", "go/pkg/util/a.go", "go/pkg/util/a_test.go",
    "go/pkg/empty/x_test.go", "go/root.go",
    texts={"go/go.mod": "module example.com/m\n\ngo 1.22\n"},
)  # fmt: skip


@pytest.mark.parametrize(
    "module, expected",
    [
        ("example.com/m/pkg/util", "go/pkg/util/a.go"),  # first non-test file
        ("example.com/m", "go/root.go"),
        ("example.com/m/pkg/empty", None),
        ("example.com/other/pkg", None),
        ("fmt", None),
        ("./pkg/util", None),  # relative to go/cmd: go/cmd/pkg/util does not exist
    ],
)
def test_go(module: str, expected: str | None) -> None:
    assert resolve_import(module, "go/cmd/main.go", "go", GO) == expected


GO_VENDORED = facts(
    "app/main.go", "app/vendor/modules.txt", "app/vendor/github.com/x/y/z/z.go",
    "app/vendor/github.com/moby/api/types/t.go", "app/api/types/t.go",
    "old/main.go", "old/vendor/modules.txt", "old/vendor/github.com/x/y/y.go",
    "old/lib/y/y.go", "rep/main.go", "rep/local/api/types/t.go", "rep/sib/s.go",
    "rep/x/x.go",
    texts={
        "app/go.mod": """module example.com/app\n\ngo 1.22\n
replace github.com/moby/api => ./api\n""",
        # before 1.14 the vendor directory is read only with -mod=vendor
        "old/go.mod": "module example.com/old\ngo 1.13\n"
        "replace github.com/x/y v1.0.0 => ./lib/y\n",
        "rep/go.mod": """module example.com/rep
go 1.21
replace (
\tgithub.com/moby/api v1.2.3 => ./local/api
\texample.com/sibling => ./sib
\texample.com/elsewhere => example.com/fork v1.0.0
\texample.com/abs => /home/me/abs
)
""",
    },
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        ("github.com/x/y/z", "app/main.go", "app/vendor/github.com/x/y/z/z.go"),
        # vendoring wins over a replace, as `go build` does
        ("github.com/moby/api/types", "app/main.go", "app/vendor/github.com/moby/api/types/t.go"),
        ("fmt", "app/main.go", None),
        ("github.com/x/y/z", "app/vendor/github.com/moby/api/types/t.go",
         "app/vendor/github.com/x/y/z/z.go"),  # vendored packages import each other
        ("github.com/x/y", "old/main.go", "old/lib/y/y.go"),
        ("github.com/moby/api/types", "rep/main.go", "rep/local/api/types/t.go"),
        ("example.com/sibling", "rep/main.go", "rep/sib/s.go"),
        ("example.com/elsewhere/x", "rep/main.go", None),
        ("example.com/abs", "rep/main.go", None),
        ("github.com/moby/apiextra", "rep/main.go", None),
    ],
)  # fmt: skip
def test_go_vendor_and_replace(
    module: str, importer: str, expected: str | None
) -> None:
    assert resolve_import(module, importer, "go", GO_VENDORED) == expected


RUST = facts(
    "rust/Cargo.toml", "rust/src/lib.rs", "rust/src/cache.rs", "rust/src/net/mod.rs",
    "rust/src/net/http.rs", "rust/src/net/tcp/mod.rs",
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        ("crate::cache::Cache", "rust/src/lib.rs", "rust/src/cache.rs"),
        (
            "crate::net::http::{Request, Response}",
            "rust/src/cache.rs",
            "rust/src/net/http.rs",
        ),
        ("crate::net", "rust/src/cache.rs", "rust/src/net/mod.rs"),
        ("self::http::get", "rust/src/net/mod.rs", "rust/src/net/http.rs"),
        ("super::super::cache::*", "rust/src/net/http.rs", "rust/src/cache.rs"),
        ("super::cache", "rust/src/net/http.rs", None),  # that is net::cache
        ("super::tcp::Stream", "rust/src/net/http.rs", "rust/src/net/tcp/mod.rs"),
        ("cache::Cache", "rust/src/lib.rs", "rust/src/cache.rs"),  # uniform path
        ("std::collections::HashMap", "rust/src/lib.rs", None),
        ("serde::Serialize", "rust/src/lib.rs", None),
        ("super::super::x", "rust/src/net/http.rs", None),
    ],
)
def test_rust(module: str, importer: str, expected: str | None) -> None:
    assert resolve_import(module, importer, "rust", RUST) == expected


CARGO_WORKSPACE = facts(
    "Cargo.toml", "cli/main.rs", "cli/tools/mod.rs", "cli/tools/fmt.rs",
    "ext/fs/lib.rs", "ext/fs/ops.rs", "ext/fs/interface.rs", "ext/fs/tests/it.rs",
    "ext/fs/build.rs", "runtime/src/lib.rs", "runtime/src/worker.rs",
    "fixtures/runtime/src/lib.rs", "virtual/lib.rs", "runtime/src/util.rs",
    "runtime/src/bin/tool.rs", "runtime/src/bin/big/main.rs", "runtime/src/bin/big/util.rs",
    texts={
        "Cargo.toml": '[workspace]\nmembers = ["cli", "ext/fs", "runtime"]\n',
        "cli/Cargo.toml": '[package]\nname = "deno"\n[[bin]]\nname = "deno"\npath = "main.rs"\n',
        "ext/fs/Cargo.toml": '[package]\nname = "deno-fs"\n[lib]\npath = "lib.rs"\n',
        "runtime/Cargo.toml": '[package]\nname = "deno_runtime"\n',
        # a second package of the same name, deeper: the shallower one wins
        "fixtures/runtime/Cargo.toml": '[package]\nname = "deno_runtime"\n',
        "virtual/Cargo.toml": "[lib\nnot toml",
    },
)  # fmt: skip


@pytest.mark.parametrize(
    "module, importer, expected",
    [
        # modules beside Cargo.toml when [lib] path says so
        ("crate::interface::FileSystem", "ext/fs/ops.rs", "ext/fs/interface.rs"),
        ("self::ops", "ext/fs/lib.rs", "ext/fs/ops.rs"),
        ("crate::tools::fmt", "cli/main.rs", "cli/tools/fmt.rs"),
        ("super::fmt::format", "cli/tools/mod.rs", None),  # cli::fmt is no file
        ("crate::ops", "ext/fs/tests/it.rs", None),  # an integration test crate
        ("crate::ops", "ext/fs/build.rs", None),
        # other crates of the workspace, by name (- spelled _)
        ("deno_fs::ops::op_read", "runtime/src/worker.rs", "ext/fs/ops.rs"),
        ("deno_fs::FsError", "runtime/src/worker.rs", "ext/fs/lib.rs"),
        ("deno_fs", "cli/tools/fmt.rs", "ext/fs/lib.rs"),
        ("deno_runtime::worker::MainWorker", "cli/main.rs", "runtime/src/worker.rs"),
        ("deno_runtime", "runtime/src/worker.rs", "runtime/src/lib.rs"),
        ("deno::x", "runtime/src/worker.rs", None),  # a binary: nothing to import
        ("std::fs", "runtime/src/worker.rs", None),
        ("crate::x", "virtual/lib.rs", None),  # an unreadable manifest
        # binaries Cargo finds by itself are crates of their own
        ("crate::util", "runtime/src/bin/big/main.rs", "runtime/src/bin/big/util.rs"),
        ("crate::util", "runtime/src/bin/tool.rs", None),
        ("deno_runtime::util", "runtime/src/bin/tool.rs", "runtime/src/util.rs"),
        ("crate::util", "runtime/src/worker.rs", "runtime/src/util.rs"),
    ],
)  # fmt: skip
def test_rust_cargo_workspace(module: str, importer: str, expected: str | None) -> None:
    assert resolve_import(module, importer, "rust", CARGO_WORKSPACE) == expected


JAVA = facts(
    "java/src/main/java/com/example/InventoryService.java",
    "java/src/main/java/com/example/util/Strings.java",
    "other/com/example/util/Strings.java.bak",
    "legacy/src/com/example/util/Strings.java",
)


@pytest.mark.parametrize(
    "module, expected",
    [
        (
            "com.example.InventoryService",
            "java/src/main/java/com/example/InventoryService.java",
        ),
        (
            "com.example.util.Strings",
            "legacy/src/com/example/util/Strings.java",
        ),  # shortest
        (
            "com.example.util.Strings.trim",
            "legacy/src/com/example/util/Strings.java",
        ),  # static
        ("java.util.List", None),
        ("com.example", None),
    ],
)
def test_java(module: str, expected: str | None) -> None:
    imp = "java/src/main/java/com/example/App.java"
    assert resolve_import(module, imp, "java", JAVA) == expected


def test_a_manifest_nested_past_the_parser_resolves_nothing() -> None:
    deep = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"
    files = facts(
        "src/a.rs", "src/b.rs", "x/src/lib.rs",
        texts={"Cargo.toml": deep, "x/Cargo.toml": deep},
    )  # fmt: skip
    # No manifest can be read: the crate roots are Cargo's defaults, and no
    # crate has a name.
    assert resolve_import("crate::b", "src/a.rs", "rust", files) == "src/b.rs"
    assert resolve_import("x::y", "src/a.rs", "rust", files) is None


JVM = facts(
    "app/src/main/kotlin/com/acme/App.kt", "app/src/main/kotlin/com/acme/util/Strings.kt",
    "app/src/main/java/com/acme/legacy/Config.java", "app/src/main/kotlin/com/acme/Both.kt",
    "app/src/main/java/com/acme/Both.java",
)  # fmt: skip


@pytest.mark.parametrize(
    "module, language, expected",
    [
        ("com.acme.util.Strings", "kotlin", "app/src/main/kotlin/com/acme/util/Strings.kt"),
        ("com.acme.legacy.Config", "kotlin", "app/src/main/java/com/acme/legacy/Config.java"),
        ("com.acme.util.Strings.slug", "kotlin", "app/src/main/kotlin/com/acme/util/Strings.kt"),
        ("com.acme.util.Strings", "java", "app/src/main/kotlin/com/acme/util/Strings.kt"),
        # one class in both languages: the importer's own first
        ("com.acme.Both", "kotlin", "app/src/main/kotlin/com/acme/Both.kt"),
        ("com.acme.Both", "java", "app/src/main/java/com/acme/Both.java"),
        ("com.acme.util.*", "kotlin", None),
        ("kotlinx.coroutines.flow.Flow", "kotlin", None),
    ],
)  # fmt: skip
def test_kotlin_and_java_import_each_other(
    module: str, language: str, expected: str | None
) -> None:
    importer = "app/src/main/kotlin/com/acme/App.kt"
    assert resolve_import(module, importer, language, JVM) == expected


def test_unknown_languages_never_resolve() -> None:
    assert resolve_import("a", "x.rb", "ruby", facts("a.rb")) is None
    assert resolve_import("a", "x.py", None, facts("a.py")) is None


@pytest.mark.parametrize(
    "module, language, target",
    [
        ("util.helpers", "python", "util/helpers.py"),
        (".", "python", "pkg/__init__.py"),
        ("pkg", "python", "pkg/__init__.py"),
        ("./format", "typescript", "web/src/format.ts"),
        ("./ui", "typescript", "web/src/ui/index.tsx"),
        ("..", "typescript", "web/src/index.ts"),
        ("./esm.js", "typescript", "web/src/esm.ts"),
        ("example.com/m/pkg/util", "go", "go/pkg/util/a.go"),
        ("crate::net::http::Request", "rust", "rust/src/net/http.rs"),
        ("com.example.util.Strings.trim", "java", "a/com/example/util/Strings.java"),
    ],
)
def test_every_target_has_the_import_key_among_its_components(
    module: str, language: str, target: str
) -> None:
    key = import_key(module, language)
    assert key is not None and key in file_components(target)


def test_resolvers_hang_off_the_language_registry() -> None:
    """A language's import rules live on its spec; resolve.py names none."""
    import ast
    from pathlib import Path

    from axd.daemon.index import resolve
    from axd.daemon.index.languages import LANGUAGES

    assert resolve.CONFIG_FILES == {
        "tsconfig.json": frozenset({"javascript", "typescript", "tsx"}),
        "jsconfig.json": frozenset({"javascript", "typescript", "tsx"}),
        "go.mod": frozenset({"go"}),
        "__init__.py": frozenset({"python"}),
    }
    with_rules = {name for name, spec in LANGUAGES.items() if spec.resolver}
    assert with_rules == {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "kotlin",
    }
    tree = ast.parse(Path(resolve.__file__).read_text("utf-8"))
    strings = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not strings & set(LANGUAGES), "resolve.py branches on a language name"
