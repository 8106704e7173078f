from __future__ import annotations

import pytest
import tree_sitter_language_pack

from axd.daemon.index.extract import QUERY_DIR, check_query
from axd.daemon.index.languages import (
    LANGUAGE_ALIASES,
    LANGUAGES,
    canonical_language,
    detect_language,
)


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
        ("build.sbt", "scala"),
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
    # Every registered language has its query file: a missing one would
    # silently index the language without symbols.
    path = QUERY_DIR / LANGUAGES[language].query_file
    assert path.is_file(), f"{path} is missing"
    query = check_query(language, path.read_text("utf-8"))
    captures = {query.capture_name(i) for i in range(query.capture_count)}
    defines = any(c.startswith("definition.") for c in captures)
    assert defines == LANGUAGES[language].has_definitions


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_extension_and_file_name_detects(language: str) -> None:
    spec = LANGUAGES[language]
    assert spec.extensions or spec.filenames, "a language no file can have"
    for extension in spec.extensions:
        assert detect_language(f"src/file{extension}", b"") == language
        assert detect_language(f"FILE{extension.upper()}", b"") == language
    for filename in spec.filenames:
        assert detect_language(f"a/b/{filename}", b"") == language
    for program in spec.interpreters:
        assert detect_language("bin/tool", f"#!/usr/bin/env {program}\n".encode()) == (
            language
        )


def test_terraform_is_hcl() -> None:
    assert detect_language("infra/main.tf", b"") == "hcl"
    assert canonical_language("terraform") == "hcl"
    # hcl.scm also compiles for the pack's terraform grammar.
    check_query("terraform", (QUERY_DIR / "hcl.scm").read_text("utf-8"))
