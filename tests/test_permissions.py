"""Least privilege on disk: what axd creates is private; nothing else changes."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from axd.daemon.permissions import (
    UnsafeDirectoryError,
    check_shared_dir,
    private_dir,
    private_file,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o002)
    yield
    os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_created_directories_are_0700_existing_ones_untouched(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    assert private_dir(shared / "a" / "b") is True
    assert mode(shared / "a") == 0o700 and mode(shared / "a" / "b") == 0o700
    assert mode(shared) == 0o755
    assert private_dir(shared) is False
    assert mode(shared) == 0o755


@pytest.mark.usefixtures("permissive_umask")
def test_files_are_created_0600_and_old_wide_ones_narrowed(tmp_path: Path) -> None:
    fresh = private_file(tmp_path / "index.db")
    assert mode(fresh) == 0o600 and fresh.read_bytes() == b""
    old = tmp_path / "old.db"
    old.write_bytes(b"data")
    os.chmod(old, 0o644)
    private_file(old)
    assert mode(old) == 0o600 and old.read_bytes() == b"data"


def test_world_writable_without_sticky_bit_is_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    with pytest.raises(UnsafeDirectoryError, match="sticky"):
        check_shared_dir(open_dir)
    os.chmod(open_dir, 0o1777)
    check_shared_dir(open_dir)  # like /tmp: fine
    assert mode(open_dir) == 0o1777
