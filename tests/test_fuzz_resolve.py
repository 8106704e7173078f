"""Import resolution never raises, whatever a repository holds.

Resolvers run inside the writer's transaction: one that raised would fail
the batch holding the import (or a first index's final relink). Hypothesis
draws the configs a resolver reads (``tsconfig.json`` and the bases it
extends, ``go.mod``, ``Cargo.toml``) as arbitrary JSON or text, the file set
around them, and module strings as written; every language's resolver must
answer with a file of the set or None.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from resolve_facts import DictFacts

from axd.daemon.index.resolve import import_key, resolve_import

_PART = st.sampled_from(
    ["a", "src", "lib", "pkg", "..", ".", "", "index", "mod", "x.ts"]
)
_PATH = st.lists(_PART, min_size=1, max_size=4).map("/".join)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | _PATH,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["extends", "compilerOptions", "paths", "baseUrl", "@x/*", "*", "a"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
# A config is mostly an object with the keys resolvers read, sometimes any
# JSON value, sometimes not JSON at all.
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | _PATH
# Each key's value: often a scalar of any type, else a list of them or any JSON.
_VALUE = _SCALAR | st.lists(_SCALAR, max_size=3) | _JSON
_CONFIG_OBJECT = st.fixed_dictionaries(
    {},
    optional={
        "extends": _VALUE,
        "compilerOptions": st.dictionaries(
            st.sampled_from(["paths", "baseUrl"]),
            _VALUE | st.dictionaries(st.sampled_from(["@x/*", "*", "a"]), _VALUE),
            max_size=2,
        )
        | _VALUE,
    },
)
_GO_MOD = st.lists(
    st.sampled_from(
        ["module a", "module", "go 1.13", "go 1.22", "go x", "replace (", ")",
         "replace a/b => ./src", "a/b v1 => ../..", "replace x => .", "=> ./a"]
    ),
    max_size=5,
).map("\n".join)  # fmt: skip
_CARGO_TOML = st.lists(
    st.sampled_from(
        ["[package]", 'name = "a"', 'name = "src"', "name = 3", "[lib]",
         'path = "lib.rs"', 'path = "../x.rs"', 'path = "/abs.rs"', "path = []",
         "[[bin]]", 'path = "main.rs"', "bin = 1", "lib = 2", "[workspace", "="]
    ),
    max_size=6,
).map("\n".join)  # fmt: skip
_CONFIG_TEXT = (
    _CONFIG_OBJECT.map(json.dumps)
    | _JSON.map(json.dumps)
    | _GO_MOD
    | _CARGO_TOML
    | st.text(max_size=40)
)
_MODULE = st.one_of(
    st.text(max_size=20),
    st.lists(_PART, max_size=4).map("/".join),
    st.lists(_PART, max_size=4).map(".".join),
    st.lists(
        st.sampled_from(["crate", "self", "super", "a", "src", "x", "{b", "*"]),
        max_size=4,
    ).map("::".join),
)
_FILES = st.lists(
    st.sampled_from(
        [
            "a.py", "pkg/__init__.py", "pkg/a.py", "src/a.ts", "src/index.ts",
            "lib/x.ts", "a/b/c.go", "src/lib.rs", "src/a/mod.rs", "com/x/A.java", "com/x/B.kt",
            "lib.rs", "lib/src/lib.rs", "src/a/x.rs",
            "node_modules/b/tsconfig.json", "vendor/modules.txt", "vendor/a/b/c.go",
        ]
    ),
    max_size=8,
)  # fmt: skip
_CONFIGS = st.dictionaries(
    st.sampled_from(
        [
            "tsconfig.json", "src/tsconfig.json", "tsconfig.base.json",
            "jsconfig.json", "node_modules/b/tsconfig.json", "go.mod", "Cargo.toml",
            "src/a/Cargo.toml", "lib/Cargo.toml",
        ]
    ),
    _CONFIG_TEXT,
    max_size=4,
)  # fmt: skip


@settings(max_examples=600)
@given(
    files=_FILES,
    configs=_CONFIGS,
    module=_MODULE,
    importer_language=st.sampled_from(
        [
            ("src/a.ts", "typescript"), ("src/a.tsx", "tsx"), ("a.js", "javascript"),
            ("pkg/a.py", "python"), ("a/b/c.go", "go"), ("src/a/mod.rs", "rust"),
            ("com/x/A.java", "java"), ("com/x/B.kt", "kotlin"), ("src/a.ts", "python"),
        ]
    ),
)  # fmt: skip
def test_resolution_answers_a_file_or_none(
    files: list[str],
    configs: dict[str, str],
    module: str,
    importer_language: tuple[str, str],
) -> None:
    importer, language = importer_language
    texts = dict.fromkeys(files, "")
    texts.update(configs)
    texts.setdefault(importer, "")
    facts = DictFacts(texts)
    found = resolve_import(module, importer, language, facts)
    assert found is None or found in texts
    key = import_key(module, language)
    assert key is None or isinstance(key, str)
