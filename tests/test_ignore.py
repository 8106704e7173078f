"""IgnoreRules against a table of gitignore situations, cross-checked with git."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from axd.daemon.index.ignore import IgnoreMatch, IgnoreRules

if TYPE_CHECKING:
    from pathlib import Path

GI = ".gitignore"
EXCLUDE = ".git/info/exclude"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]  # ignore files (and any other file) to write
    path: str  # the path asked about; created as a file or directory
    expected: tuple[str, int | None, str] | None  # (source, line, pattern)
    is_dir: bool = False
    excludes: tuple[str, ...] = ()
    git: bool = True  # git knows every rule involved: compare with check-ignore
    extra: tuple[str, ...] = field(default=())  # more paths to create


CASES = [
    Case("basename_any_depth", {GI: "*.log\n"}, "a/b/x.log", (GI, 1, "*.log")),
    Case("no_match_is_kept", {GI: "*.log\n"}, "x.py", None),
    Case("negation_reincludes", {GI: "*.log\n!keep.log\n"}, "keep.log", None),
    Case(
        "last_matching_line_wins",
        {GI: "*.log\n!keep.log\nkeep.log\n"},
        "keep.log",
        (GI, 3, "keep.log"),
    ),
    Case(
        "no_reinclude_inside_excluded_dir",
        {GI: "build/\n!build/keep.py\n"},
        "build/keep.py",
        (GI, 1, "build/"),
    ),
    Case(
        "reinclude_below_dir_contents_pattern",
        {GI: "build/**\n!build/keep.py\n"},
        "build/keep.py",
        None,
    ),
    Case(
        "dir_contents_pattern_spares_dir",
        {GI: "build/**\n"},
        "build",
        None,
        is_dir=True,
    ),
    Case(
        "dir_contents_pattern_hits_contents",
        {GI: "build/**\n"},
        "build/a/b.py",
        (GI, 1, "build/**"),
    ),
    Case("star_slash_reinclude", {GI: "logs/*\n!logs/.keep\n"}, "logs/.keep", None),
    Case(
        "star_slash_excludes",
        {GI: "logs/*\n!logs/.keep\n"},
        "logs/x",
        (GI, 1, "logs/*"),
    ),
    Case(
        "leading_slash_anchors", {GI: "/todo.txt\n"}, "todo.txt", (GI, 1, "/todo.txt")
    ),
    Case("leading_slash_not_deeper", {GI: "/todo.txt\n"}, "sub/todo.txt", None),
    Case("middle_slash_anchors", {GI: "doc/frotz\n"}, "a/doc/frotz", None),
    Case(
        "middle_slash_matches_at_base",
        {GI: "doc/frotz\n"},
        "doc/frotz",
        (GI, 1, "doc/frotz"),
    ),
    Case("dir_only_skips_files", {GI: "build/\n"}, "build", None),
    Case(
        "dir_only_any_depth",
        {GI: "build/\n"},
        "src/build",
        (GI, 1, "build/"),
        is_dir=True,
    ),
    Case("file_under_dir_only", {GI: "build/\n"}, "src/build/x.c", (GI, 1, "build/")),
    Case("leading_double_star", {GI: "**/foo\n"}, "a/b/foo", (GI, 1, "**/foo")),
    Case("leading_double_star_top", {GI: "**/foo\n"}, "foo", (GI, 1, "**/foo")),
    Case(
        "double_star_then_path",
        {GI: "**/foo/bar\n"},
        "x/foo/bar",
        (GI, 1, "**/foo/bar"),
    ),
    Case("middle_double_star_zero_dirs", {GI: "a/**/b\n"}, "a/b", (GI, 1, "a/**/b")),
    Case(
        "middle_double_star_many_dirs", {GI: "a/**/b\n"}, "a/x/y/b", (GI, 1, "a/**/b")
    ),
    Case("dir_only_double_star_spares_files", {GI: "a/**/\n"}, "a/f", None),
    Case("dir_only_double_star_hits_dirs", {GI: "a/**/\n"}, "a/d/f", (GI, 1, "a/**/")),
    Case("star_does_not_cross_slash", {GI: "a/*.c\n"}, "a/b/x.c", None),
    Case("star_within_segment", {GI: "a/*.c\n"}, "a/x.c", (GI, 1, "a/*.c")),
    Case("question_and_range", {GI: "file?.[ch]\n"}, "file1.h", (GI, 1, "file?.[ch]")),
    Case("question_is_one_char", {GI: "file?.[ch]\n"}, "file10.c", None),
    Case(
        "nested_overrides_root",
        {GI: "*.txt\n", "sub/.gitignore": "!notes.txt\n"},
        "sub/notes.txt",
        None,
    ),
    Case(
        "root_still_applies_elsewhere",
        {GI: "*.txt\n", "sub/.gitignore": "!notes.txt\n"},
        "notes.txt",
        (GI, 1, "*.txt"),
    ),
    Case(
        "nested_excludes_what_root_reincludes",
        {GI: "!important.log\n", "sub/.gitignore": "*.log\n"},
        "sub/important.log",
        ("sub/.gitignore", 1, "*.log"),
    ),
    Case(
        "nested_anchor_is_its_dir",
        {"sub/.gitignore": "/gen\n"},
        "sub/gen",
        ("sub/.gitignore", 1, "/gen"),
    ),
    Case("nested_anchor_not_deeper", {"sub/.gitignore": "/gen\n"}, "sub/x/gen", None),
    Case("nested_rules_stay_inside", {"sub/.gitignore": "*.py\n"}, "top.py", None),
    Case(
        "ignore_file_in_ignored_dir_unread",
        {GI: "build/\n", "build/.gitignore": "!*\n"},
        "build/x",
        (GI, 1, "build/"),
    ),
    Case(
        "info_exclude", {EXCLUDE: "secret.py\n"}, "secret.py", (EXCLUDE, 1, "secret.py")
    ),
    Case(
        "gitignore_beats_info_exclude",
        {EXCLUDE: "*.py\n", GI: "!main.py\n"},
        "main.py",
        None,
    ),
    Case("comment_line", {GI: "#foo\n"}, "#foo", None),
    Case("escaped_hash", {GI: "\\#foo\n"}, "#foo", (GI, 1, "\\#foo")),
    Case("escaped_bang", {GI: "\\!important\n"}, "!important", (GI, 1, "\\!important")),
    Case(
        "blank_and_comment_lines_counted",
        {GI: "\n\n# objects\n*.o\n"},
        "x.o",
        (GI, 4, "*.o"),
    ),
    Case("trailing_spaces_trimmed", {GI: "bar   \n"}, "bar", (GI, 1, "bar")),
    Case("escaped_trailing_space_kept", {GI: "foo\\ \n"}, "foo ", (GI, 1, "foo\\ ")),
    Case("crlf_line_ends", {GI: "*.tmp\r\nx\r\n"}, "a.tmp", (GI, 1, "*.tmp")),
    Case("lone_trailing_backslash_never_matches", {GI: "foo\\\n"}, "foo", None),
    Case("bad_range_never_matches", {GI: "x[a-\n"}, "x[a-", None),
    Case("whitelist_keeps_dirs", {GI: "*\n!*/\n!*.py\n"}, "src/a.py", None),
    Case("whitelist_drops_others", {GI: "*\n!*/\n!*.py\n"}, "src/a.txt", (GI, 1, "*")),
    Case("anchored_star", {GI: "/*\n!/src\n"}, "README", (GI, 1, "/*")),
    Case("anchored_star_reinclude", {GI: "/*\n!/src\n"}, "src/a.py", None),
    Case("all_dirs_pattern", {GI: "*/\n"}, "top.txt", None),
    Case("all_dirs_pattern_hits_nested", {GI: "*/\n"}, "d/x.txt", (GI, 1, "*/")),
    # Sources git does not know about.
    Case(
        "axdignore_overrides_gitignore",
        {GI: "gen/\n", ".axdignore": "!gen/\n"},
        "gen/x.py",
        None,
        git=False,
    ),
    Case(
        "axdignore_excludes",
        {".axdignore": "*.snap\n"},
        "a.snap",
        (".axdignore", 1, "*.snap"),
        git=False,
    ),
    Case(
        "root_axdignore_beats_nested_gitignore",
        {".axdignore": "*.min.js\n", "sub/.gitignore": "!app.min.js\n"},
        "sub/app.min.js",
        (".axdignore", 1, "*.min.js"),
        git=False,
    ),
    Case(
        "dir_negation_does_not_force_contents",
        {".axdignore": "!gen/\n", "gen/.gitignore": "*.tmp\n"},
        "gen/x.tmp",
        ("gen/.gitignore", 1, "*.tmp"),
        git=False,
    ),
    Case(
        "config_excludes",
        {},
        "vendor/lib.py",
        ("config", None, "vendor/"),
        excludes=("*.min.js", "vendor/"),
        git=False,
    ),
    Case(
        "config_beats_axdignore",
        {".axdignore": "!x.gen\n"},
        "x.gen",
        ("config", None, "*.gen"),
        excludes=("*.gen",),
        git=False,
    ),
    Case(
        "builtin_node_modules",
        {},
        "a/node_modules/x.js",
        ("builtin", None, "node_modules/"),
        git=False,
    ),
    Case(
        "builtin_pycache",
        {},
        "pkg/__pycache__/m.pyc",
        ("builtin", None, "__pycache__/"),
        git=False,
    ),
    Case("builtin_build_not_excluded", {}, "build/gen.py", None, git=False),
    Case(
        "builtin_overridden_by_axdignore",
        {".axdignore": "!node_modules/\n"},
        "node_modules/x.js",
        None,
        git=False,
    ),
    Case(
        "builtin_not_overridden_by_gitignore_whitelist",
        {GI: "*\n!*/\n!*.js\n"},
        "node_modules/x.js",
        ("builtin", None, "node_modules/"),
        git=False,
    ),
    Case(
        "vcs_dir_always",
        {},
        ".git/config",
        ("builtin", None, ".git"),
        excludes=("!.git/",),
        git=False,
    ),
    Case("vcs_dir_nested", {}, "sub/.hg/store", ("builtin", None, ".hg"), git=False),
]


def _write_tree(root: Path, case: Case) -> None:
    for rel, text in case.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())
    for rel, is_dir in [(case.path, case.is_dir), *((p, False) for p in case.extra)]:
        target = root / rel
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")


def _expected(case: Case) -> IgnoreMatch | None:
    return None if case.expected is None else IgnoreMatch(*case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ignore_table(tmp_path: Path, case: Case) -> None:
    _write_tree(tmp_path, case)
    rules = IgnoreRules.load(tmp_path, case.excludes)
    assert rules.match(case.path, case.is_dir) == _expected(case)


GIT = shutil.which("git")
GIT_CASES = [c for c in CASES if c.git]


def _git_check_ignore(repo: Path, path: str) -> IgnoreMatch | None:
    """git's verdict: the deciding pattern, or None (kept)."""
    home = repo.parent / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # no ~/.gitconfig, no global excludesFile
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    proc = subprocess.run(
        [GIT or "git", "check-ignore", "-v", "-n", "-z", "--stdin", "--no-index"],
        input=path.encode() + b"\0",
        cwd=repo,
        env=env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    source, line, pattern, _path, *_ = proc.stdout.decode().split("\0")
    if not pattern or pattern.startswith("!"):
        return None
    return IgnoreMatch(source, int(line), pattern)


@pytest.mark.skipif(GIT is None, reason="git is not installed")
@pytest.mark.parametrize("case", GIT_CASES, ids=[c.id for c in GIT_CASES])
def test_ignore_table_agrees_with_git(tmp_path: Path, case: Case) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(
        [GIT or "git", "init", "-q", str(repo)],
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    _write_tree(repo, case)
    assert _git_check_ignore(repo, case.path) == _expected(case)
    assert IgnoreRules.load(repo).match(case.path, case.is_dir) == _expected(case)


def test_git_table_is_big_enough() -> None:
    assert len(GIT_CASES) >= 25


def test_match_entry_is_match_inside_kept_dirs(tmp_path: Path) -> None:
    (tmp_path / GI).write_text("*.log\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.match_entry("a/b", "x.log", is_dir=False) == IgnoreMatch(
        GI, 1, "*.log"
    )
    assert rules.match_entry("", "x.py", is_dir=False) is None


def test_root_and_dot_paths(tmp_path: Path) -> None:
    (tmp_path / GI).write_text("x\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.match("", is_dir=True) is None
    assert rules.match("./a//x", is_dir=False) == IgnoreMatch(GI, 1, "x")
    with pytest.raises(ValueError, match="leaves"):
        rules.match("../x", is_dir=False)
    with pytest.raises(ValueError, match="relative"):
        rules.match("/etc/passwd", is_dir=False)


def test_is_ignore_file() -> None:
    assert IgnoreRules.is_ignore_file(".gitignore")
    assert IgnoreRules.is_ignore_file("a/b/.gitignore")
    assert IgnoreRules.is_ignore_file("a/.axdignore")
    assert IgnoreRules.is_ignore_file(".git/info/exclude")
    assert not IgnoreRules.is_ignore_file("a/gitignore")
    assert not IgnoreRules.is_ignore_file("a/.gitignore.bak")


def test_reload_file_picks_up_edits(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    rules = IgnoreRules.load(tmp_path)
    assert rules.match("sub/a.tmp", is_dir=False) is None
    (tmp_path / "sub" / GI).write_text("*.tmp\n")
    # Files are read once: without a reload the old answer stays.
    assert rules.match("sub/a.tmp", is_dir=False) is None
    assert rules.reload_file("sub/.gitignore")
    assert rules.match("sub/a.tmp", is_dir=False) == IgnoreMatch(
        "sub/.gitignore", 1, "*.tmp"
    )
    (tmp_path / "sub" / GI).unlink()
    assert rules.reload_file("sub/.gitignore")
    assert rules.match("sub/a.tmp", is_dir=False) is None
    assert not rules.reload_file("sub/a.tmp")


def test_reload_drops_cached_directory_verdicts(tmp_path: Path) -> None:
    (tmp_path / GI).write_text("gen/\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.match("gen/x.py", is_dir=False) == IgnoreMatch(GI, 1, "gen/")
    (tmp_path / GI).write_text("# nothing\n")
    rules.reload_file(GI)
    assert rules.match("gen/x.py", is_dir=False) is None


def test_bom_and_non_utf8_names(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes: a surrogate escape
    (tmp_path / GI).write_bytes(b"\xef\xbb\xbf" + b"caf\xe9.txt\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.match(name, is_dir=False) == IgnoreMatch(GI, 1, name)


def test_symlinked_ignore_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text("*.py\n")
    (tmp_path / GI).symlink_to("rules.txt")
    assert IgnoreRules.load(tmp_path).match("a.py", is_dir=False) is None


def test_directory_symlink_matched_as_directory(tmp_path: Path) -> None:
    rules = IgnoreRules.load(tmp_path)
    assert rules.match("node_modules", is_dir=True) == IgnoreMatch(
        "builtin", None, "node_modules/"
    )
    assert rules.match("node_modules", is_dir=False) is None


def test_deep_tree_does_not_recurse(tmp_path: Path) -> None:
    deep = "/".join(["d"] * 3000)
    rules = IgnoreRules.load(tmp_path, ["x.py"])
    assert rules.match(deep + "/x.py", is_dir=False) == IgnoreMatch(
        "config", None, "x.py"
    )


def test_many_patterns_compile_into_one_lookup(tmp_path: Path) -> None:
    lines = [f"file{i}.txt" for i in range(3000)]
    (tmp_path / GI).write_text("\n".join(lines) + "\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.match("a/file1234.txt", is_dir=False) == IgnoreMatch(
        GI, 1235, "file1234.txt"
    )
    assert rules.match("a/file3000.txt", is_dir=False) is None


_SEGMENTS = ["a", "b", "c", "*", "**", "?", "[ab]", "a*", "*b"]
_NAMES = ["a", "b", "c", "ab", "ba"]


def _random_pattern(rng: random.Random) -> str:
    pattern = "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.3:
        pattern = "/" + pattern
    if rng.random() < 0.3:
        pattern += "/"
    if rng.random() < 0.3:
        pattern = "!" + pattern
    return pattern


@pytest.mark.skipif(GIT is None, reason="git is not installed")
@pytest.mark.parametrize("seed", range(12))
def test_random_trees_agree_with_git(tmp_path: Path, seed: int) -> None:
    """Random patterns in nested .gitignore files, every path of a random tree."""
    rng = random.Random(seed)
    repo = tmp_path / "repo"
    subprocess.run(
        [GIT or "git", "init", "-q", str(repo)],
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    for _ in range(40):
        rel = "/".join(rng.choice(_NAMES) for _ in range(rng.randint(1, 4)))
        with contextlib.suppress(OSError):  # a prefix is already a file
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            if not (repo / rel).exists():
                (repo / rel).write_text("")
    ignore_dirs = [d for d in ("", "a", "b", "a/b", "b/a") if (repo / d).is_dir()]
    for d in rng.sample(ignore_dirs, k=min(2, len(ignore_dirs))):
        lines = [_random_pattern(rng) for _ in range(rng.randint(1, 4))]
        (repo / d / GI).write_text("\n".join(lines) + "\n")
    paths: list[tuple[str, bool]] = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [n for n in dirnames if n != ".git"]
        rel_dir = os.path.relpath(dirpath, repo)
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            paths.append((rel, name in dirnames))
    rules = IgnoreRules.load(repo)
    for rel, is_dir in paths:
        assert rules.match(rel, is_dir) == _git_check_ignore(repo, rel), (rel, is_dir)
