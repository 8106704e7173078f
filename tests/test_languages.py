from __future__ import annotations

import pytest
import tree_sitter_language_pack
from axd.daemon.extract import QUERY_DIR, check_query
from axd.daemon.languages import (
    LANGUAGE_ALIASES,
    LANGUAGES,
    canonical_language,
    detect_language,
)

# The languages whose queries live with the extraction engine; the others'
# query files are written separately and checked when present.
CORE = ("python", "typescript", "tsx", "javascript", "go", "rust", "java", "yaml")
CORE += ("json", "toml")


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("main.py", "python"),
        ("stubs/os.pyi", "python"),
        ("web/src/parser.ts", "typescript"),
        ("web/src/types.d.ts", "typescript"),
        ("lib/x.mts", "typescript"),
        ("web/src/App.tsx", "tsx"),
        ("a.js", "javascript"),
        ("a.cjs", "javascript"),
        ("Button.jsx", "javascript"),
        ("go/server.go", "go"),
        ("rust/src/lib.rs", "rust"),
        ("Main.java", "java"),
        ("x.c", "c"),
        ("x.h", "c"),
        ("x.hpp", "cpp"),
        ("x.cc", "cpp"),
        ("x.cs", "csharp"),
        ("Gemfile", "ruby"),
        ("tasks/Rakefile", "ruby"),
        ("x.kts", "kotlin"),
        ("x.sc", "scala"),
        ("x.exs", "elixir"),
        ("config/settings.yaml", "yaml"),
        ("ci.yml", "yaml"),
        ("package.json", "json"),
        ("tsconfig.jsonc", "json"),
        ("Cargo.toml", "toml"),
        ("run.sh", "bash"),
        ("x.hs", "haskell"),
        ("x.ml", "ocaml"),
        ("x.mli", "ocaml_interface"),
        ("x.erl", "erlang"),
        ("x.cljs", "clojure"),
        ("x.jl", "julia"),
        ("analysis.R", "r"),
        ("analysis.r", "r"),
        ("main.tf", "hcl"),
        ("prod.tfvars", "hcl"),
        ("README.md", "markdown"),
        ("api.proto", "proto"),
        ("style.scss", "scss"),
        ("index.html", "html"),
        ("Dockerfile", "dockerfile"),
        ("Dockerfile.dev", "dockerfile"),
        ("build/app.dockerfile", "dockerfile"),
        ("Makefile", "make"),
        ("GNUmakefile", "make"),
        ("rules.mk", "make"),
        ("CMakeLists.txt", "cmake"),
        ("cmake/Find.cmake", "cmake"),
        ("UPPER.PY", "python"),
    ],
)
def test_detect_by_path(path: str, language: str) -> None:
    assert detect_language(path, b"") == language


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"#!/usr/bin/env python3\nprint(1)\n", "python"),
        (b"#!/usr/bin/python3.12\n", "python"),
        (b"#!/bin/bash\n", "bash"),
        (b"#!/bin/sh -e\n", "bash"),
        (b"#!/usr/bin/env zsh\n", "bash"),
        (b"#!/usr/bin/env -S node --no-warnings\n", "javascript"),
        (b"#!/usr/bin/env ruby\n", "ruby"),
        (b"#!/usr/bin/perl\n", None),
        (b"#!\n", None),
        (b"print(1)\n", None),
        (b"", None),
    ],
)
def test_detect_by_shebang(head: bytes, language: str | None) -> None:
    assert detect_language("bin/tool", head) == language


def test_extension_beats_shebang_and_unknown_is_none() -> None:
    assert detect_language("x.rb", b"#!/usr/bin/env python3\n") == "ruby"
    assert detect_language("notes.txt", b"hello") is None
    assert detect_language("LICENSE", b"MIT") is None
    assert detect_language(".gitignore", b"") is None


@pytest.mark.parametrize(
    ("alias", "language"),
    [
        ("py", "python"),
        ("ts", "typescript"),
        ("js", "javascript"),
        ("golang", "go"),
        ("c++", "cpp"),
        ("c#", "csharp"),
        ("sh", "bash"),
        ("rs", "rust"),
        ("yml", "yaml"),
        ("md", "markdown"),
        ("Python", "python"),
        ("TSX", "tsx"),
        ("cobol-ish", None),
    ],
)
def test_canonical_language(alias: str, language: str | None) -> None:
    assert canonical_language(alias) == language


def test_aliases_point_at_registered_languages() -> None:
    assert set(LANGUAGE_ALIASES.values()) <= set(LANGUAGES)
    assert not set(LANGUAGE_ALIASES) & set(LANGUAGES)


def test_extensions_and_filenames_are_unique() -> None:
    extensions = [ext for spec in LANGUAGES.values() for ext in spec.extensions]
    assert len(extensions) == len(set(extensions))
    assert all(ext.startswith(".") and ext == ext.lower() for ext in extensions)
    names = [name for spec in LANGUAGES.values() for name in spec.filenames]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_registered_grammar_loads(language: str) -> None:
    assert LANGUAGES[language].name == language
    tree_sitter_language_pack.get_parser(language)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_query_files_compile(language: str) -> None:
    path = QUERY_DIR / LANGUAGES[language].query_file
    if not path.exists():
        assert language not in CORE, f"{path} is missing"
        pytest.skip(f"{path.name} not written yet")
    check_query(language, path.read_text("utf-8"))
