"""crawl() over real trees: pruning, symlinks, vanishing files, odd names."""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from axd.daemon.index.crawl import CrawlEntry, CrawlStats, crawl
from axd.daemon.index.ignore import IgnoreRules

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _write(root: Path, *paths: str) -> None:
    for rel in paths:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# {rel}\n")


def _crawl(
    root: Path, *, follow: bool = False, excludes: tuple[str, ...] = ()
) -> dict[str, CrawlEntry]:
    entries = list(
        crawl(root, IgnoreRules.load(root, excludes), follow_symlinks=follow)
    )
    by_path = {e.path: e for e in entries}
    assert len(by_path) == len(entries), "a path was yielded twice"
    return by_path


def test_plain_tree_sizes_and_mtimes(tmp_path: Path) -> None:
    _write(tmp_path, "a.py", "pkg/b.py", "pkg/sub/c.py")
    found = _crawl(tmp_path)
    assert set(found) == {"a.py", "pkg/b.py", "pkg/sub/c.py"}
    st = (tmp_path / "pkg/b.py").stat()
    assert found["pkg/b.py"] == CrawlEntry("pkg/b.py", st.st_size, st.st_mtime_ns)


def test_ignored_files_and_dirs_are_pruned(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "keep.py",
        "x.log",
        "gen/out.py",
        "node_modules/m/i.js",
        ".git/HEAD",
        "v/lib.py",
    )
    (tmp_path / ".gitignore").write_text("*.log\ngen/\n")
    stats = CrawlStats()
    rules = IgnoreRules.load(tmp_path, ["v/"])
    found = {e.path for e in crawl(tmp_path, rules, stats=stats)}
    assert found == {"keep.py", ".gitignore"}
    # x.log, gen/, node_modules/, .git/, v/: five entries, nothing below them
    assert stats.ignored == 5
    assert stats.dirs == 1


def test_pruned_directories_are_never_listed(tmp_path: Path) -> None:
    _write(tmp_path, "src/a.py", "build/deep/x.py", "node_modules/pkg/index.js")
    (tmp_path / ".gitignore").write_text("build/\n")
    listed: list[str] = []

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "os.scandir" and listing:
            listed.append(str(args[0]))

    listing = True
    sys.addaudithook(hook)  # audit hooks cannot be removed: the flag ends it
    try:
        found = _crawl(tmp_path)
    finally:
        listing = False
    assert set(found) == {"src/a.py", ".gitignore"}
    assert sorted(os.path.relpath(p, tmp_path) for p in listed) == [".", "src"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("follow", [False, True])
def test_symlink_loops_never_hang(tmp_path: Path, follow: bool) -> None:
    _write(tmp_path, "real/a.py")
    (tmp_path / "self").symlink_to(".")
    (tmp_path / "real" / "up").symlink_to("..")
    (tmp_path / "x").symlink_to("y")
    (tmp_path / "y").symlink_to("x")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "to_real").symlink_to("../real")
    stats = CrawlStats()
    found = {
        e.path
        for e in crawl(
            tmp_path, IgnoreRules.load(tmp_path), follow_symlinks=follow, stats=stats
        )
    }
    # Every directory is walked once, under its real path.
    assert found == {"real/a.py"}
    assert stats.dangling == 3  # x, y, loop
    if follow:
        assert stats.revisited_dirs == 3  # self, real/up, ab/to_real
    else:
        assert stats.symlinked_dirs == 3


def test_symlinked_dir_followed_when_asked(tmp_path: Path) -> None:
    _write(tmp_path, "gen/out.py")
    (tmp_path / ".gitignore").write_text("/gen/\n")
    (tmp_path / "view").symlink_to("gen")
    # Not followed by default: a link to a directory is no file.
    assert set(_crawl(tmp_path)) == {".gitignore"}
    # Followed, the ignored real path is reachable only through the link.
    assert set(_crawl(tmp_path, follow=True)) == {".gitignore", "view/out.py"}


def test_symlink_to_file_inside_root(tmp_path: Path) -> None:
    _write(tmp_path, "a.py")
    (tmp_path / "alias.py").symlink_to("a.py")
    found = _crawl(tmp_path)
    st = (tmp_path / "a.py").stat()
    assert found["alias.py"] == CrawlEntry("alias.py", st.st_size, st.st_mtime_ns)
    assert "a.py" in found


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_symlink_outside_root(tmp_path: Path, kind: str) -> None:
    outside = tmp_path / "outside"
    _write(outside, "secret.py")
    root = tmp_path / "root"
    root.mkdir()
    target = outside / "secret.py" if kind == "file" else outside
    (root / "link").symlink_to(target)
    for follow in (False, True):
        found = _crawl(root, follow=follow)
        assert set(found) == {"link"}
        entry = found["link"]
        assert entry.skip_reason == "symlink_outside_root"
        assert entry.detail == os.path.realpath(target)


def test_ignored_symlink_outside_root_is_not_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "node_modules").symlink_to(tmp_path)
    assert _crawl(root) == {}


def test_dangling_symlink_is_skipped_silently(tmp_path: Path) -> None:
    _write(tmp_path, "a.py")
    (tmp_path / "gone.py").symlink_to("nowhere.py")
    stats = CrawlStats()
    found = {e.path for e in crawl(tmp_path, IgnoreRules.load(tmp_path), stats=stats)}
    assert found == {"a.py"}
    assert stats.dangling == 1


@pytest.mark.skipif(AS_ROOT, reason="root reads chmod 000 directories anyway")
def test_unreadable_directory_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "a.py", "locked/b.py")
    (tmp_path / "locked").chmod(0)
    try:
        stats = CrawlStats()
        found = {
            e.path for e in crawl(tmp_path, IgnoreRules.load(tmp_path), stats=stats)
        }
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert found == {"a.py"}
    assert stats.unreadable_dirs == 1


def _crawl_as_nobody(root: Path) -> tuple[set[str], int]:
    """Crawl in a forked child that dropped root (nobody may not exec our python)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            stats = CrawlStats()
            found = [e.path for e in crawl(root, IgnoreRules.load(root), stats=stats)]
            os.write(write_fd, repr((found, stats.unreadable_dirs)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    found, unreadable = ast.literal_eval(out.decode())
    return set(found), unreadable


@pytest.mark.skipif(not AS_ROOT, reason="needs root to switch to an unprivileged user")
def test_unreadable_directory_is_skipped_as_unprivileged_user() -> None:
    # Root reads chmod 000 directories anyway, so the crawl runs as "nobody".
    base = Path(tempfile.mkdtemp(prefix="axd-crawl-"))
    try:
        base.chmod(0o755)
        _write(base, "a.py", "locked/b.py", "open/c.py")
        (base / "locked").chmod(0)
        assert _crawl_as_nobody(base) == ({"a.py", "open/c.py"}, 1)
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base)


def test_missing_root_yields_nothing(tmp_path: Path) -> None:
    stats = CrawlStats()
    gone = tmp_path / "gone"
    assert list(crawl(gone, IgnoreRules.load(gone), stats=stats)) == []
    assert stats.dirs == 0


def test_file_deleted_mid_crawl_is_not_yielded(tmp_path: Path) -> None:
    names = [f"f{i:02}.py" for i in range(20)]
    _write(tmp_path, *names, "sub/late.py")
    it = crawl(tmp_path, IgnoreRules.load(tmp_path))
    first = next(it)
    # The directory is already listed; delete everything not yet yielded.
    for name in names:
        if name != first.path:
            (tmp_path / name).unlink()
    (tmp_path / "sub" / "late.py").unlink()
    (tmp_path / "sub").rmdir()
    assert list(it) == []


def test_non_utf8_file_name(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.py")
    try:
        with open(raw, "wb") as f:
            f.write(b"x = 1\n")
    except OSError:
        pytest.skip("this file system rejects non-UTF-8 names")
    found = _crawl(tmp_path)
    name = os.fsdecode(b"caf\xe9.py")
    assert set(found) == {name}
    assert os.fsencode(name) == b"caf\xe9.py"
    with open(tmp_path / name, "rb") as f:  # the str opens the same file
        assert f.read() == b"x = 1\n"


def test_special_files_are_passed_over(tmp_path: Path) -> None:
    _write(tmp_path, "a.py")
    os.mkfifo(tmp_path / "pipe")
    assert set(_crawl(tmp_path)) == {"a.py"}


def test_deep_tree(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(200):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("")
    found = _crawl(tmp_path)
    assert set(found) == {"/".join(["d"] * 200) + "/x.py"}


def test_nested_gitignore_applies_below_its_dir(tmp_path: Path) -> None:
    _write(tmp_path, "a/x.tmp", "a/b/y.tmp", "z.tmp")
    (tmp_path / "a" / ".gitignore").write_text("*.tmp\n")
    assert set(_crawl(tmp_path)) == {"z.tmp", "a/.gitignore"}
