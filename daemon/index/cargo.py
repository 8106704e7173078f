"""Cargo packages as the Rust import rules see them: crate roots and names.

`resolvers._rust` maps ``crate::``/``self::``/``super::`` paths to files
below the directory of the importing crate's root, and a path that starts
with another crate's name to that crate when the workspace holds it (a
Cargo workspace's members depend on each other by name: ``use
deno_runtime::worker`` in one member, ``runtime/Cargo.toml`` naming the
package ``deno_runtime``).

Cargo's rules kept here:

* A package's library root is ``[lib] path`` (``path = "lib.rs"`` puts the
  modules beside ``Cargo.toml``), else ``src/lib.rs``; a binary's is
  ``[[bin]] path``, else ``src/main.rs``, ``src/bin/NAME.rs`` or
  ``src/bin/NAME/main.rs``. A module's files are below the directory of its
  crate's root (the innermost root directory holding the file).
* Beside a root that is not in ``src/``, ``tests/``, ``benches/``,
  ``examples/`` and ``build.rs`` are crates of their own, not modules.
* The name code uses is ``[lib] name``, else ``[package] name`` with ``-``
  spelled ``_``.

Left as it is: an import resolved through a crate name is re-resolved when
any ``Cargo.toml`` changes (`resolve.config_scope`: the whole workspace) and
by a full relink, not when a module file of that crate comes or goes; its
import key is its first component, the crate's name, which no file path
holds (a file deleted under it clears the edge: ``ON DELETE SET NULL``).
"""

from __future__ import annotations

import contextlib
import posixpath
import tomllib
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from axd.daemon.index.relpaths import ancestors, join

if TYPE_CHECKING:
    from axd.daemon.index.resolvers import Facts

__all__ = ["MANIFEST", "Crate", "crate_named", "importing_crate"]

MANIFEST = "Cargo.toml"
# Directories beside a root outside src/ that hold crates of their own.
_OTHER_TARGETS = ("tests/", "benches/", "examples/")


@dataclass(frozen=True, slots=True)
class Crate:
    """A crate of the workspace: where its modules live."""

    module_dir: str  # the directory of its root file ("" for the workspace root)
    root: str  # the root file: lib.rs, main.rs, a [lib] path


def importing_crate(importer: str, facts: Facts) -> Crate | None:
    """The crate `importer` is a module of: the nearest package above it
    whose library or binary root directory holds it (found once per file
    and `facts`: a file has a dozen imports)."""
    try:
        known = _CRATE_OF.setdefault(facts, {})
    except TypeError:  # not weak-referenceable
        return _importing_crate(importer, facts)
    if importer not in known:
        if len(known) >= _FILES_KEPT:
            known.clear()  # a whole-index relink: bounded like DbFacts
        known[importer] = _importing_crate(importer, facts)
    return known[importer]


def _importing_crate(importer: str, facts: Facts) -> Crate | None:
    for directory in ancestors(posixpath.dirname(importer)):
        manifest = join(directory, MANIFEST)
        if facts.exists(manifest):
            return _holding(importer, directory, _parsed(facts.read_text(manifest)))
    return None


def _holding(importer: str, package: str, manifest: dict[str, Any]) -> Crate | None:
    relative = importer[len(package) + 1 :] if package else importer
    best: tuple[str, str] | None = None  # (module dir, root), package-relative
    for root in [*_roots(manifest), *_binary_root(relative)]:
        module_dir = posixpath.dirname(root)
        inside = relative.startswith(module_dir + "/") if module_dir else True
        if not inside:
            continue
        if not module_dir and (
            relative.startswith(_OTHER_TARGETS) or relative == "build.rs"
        ):
            continue
        if best is None or len(module_dir) > len(best[0]):  # the innermost
            best = (module_dir, root)
    if best is None:
        return None
    return Crate(join(package, best[0]), join(package, best[1]))


def _binary_root(relative: str) -> list[str]:
    """The root of the binary Cargo finds by itself that holds `relative`:
    ``src/bin/NAME.rs`` (each file there is one), ``src/bin/NAME/main.rs``."""
    if not relative.startswith("src/bin/"):
        return []
    parts = relative.split("/")
    if len(parts) == 3:
        return [relative] if relative.endswith(".rs") else []
    return [f"src/bin/{parts[2]}/main.rs"]


def _roots(manifest: dict[str, Any]) -> list[str]:
    """The package's crate roots, relative to its directory."""
    roots = ["src/lib.rs", "src/main.rs"]
    lib = manifest.get("lib")
    if isinstance(lib, dict) and isinstance(lib.get("path"), str):
        roots.insert(0, posixpath.normpath(lib["path"]))
    bins = manifest.get("bin")
    roots.extend(
        posixpath.normpath(binary["path"])
        for binary in (bins if isinstance(bins, list) else [])
        if isinstance(binary, dict) and isinstance(binary.get("path"), str)
    )
    return [r for r in roots if not r.startswith(("../", "/")) and r != ".."]


# The workspace's library crates by name, for the manifests as they were
# (paths and content hashes): a save re-reads none while none changed.
_CRATES: dict[tuple[tuple[str, str | None], ...], dict[str, Crate]] = {}
_CRATES_KEPT = 8  # workspaces (and versions of them) remembered


# Per `facts`: each importing file's crate (at most `_FILES_KEPT` of them).
_FILES_KEPT = 20_000
_CRATE_OF: weakref.WeakKeyDictionary[Any, dict[str, Crate | None]] = (
    weakref.WeakKeyDictionary()
)
# ...and the one a `facts` (a batch's or a relink's view of the workspace,
# whose manifests do not change while it lives) found, so that its many
# imports ask for the manifests' versions once.
_BY_FACTS: weakref.WeakKeyDictionary[Any, dict[str, Crate]] = (
    weakref.WeakKeyDictionary()
)


def crate_named(name: str, facts: Facts) -> Crate | None:
    """The workspace's library crate called `name` in code, if it has one
    and its root file exists."""
    crate = _crates(facts).get(name)
    return crate if crate is not None and facts.exists(crate.root) else None


def _crates(facts: Facts) -> dict[str, Crate]:
    try:
        crates = _BY_FACTS.get(facts)
    except TypeError:  # not weak-referenceable: look its versions up each time
        crates = None
    if crates is not None:
        return crates
    key = tuple(facts.versions(MANIFEST))
    crates = _CRATES.get(key)
    if crates is None:
        if len(_CRATES) >= _CRATES_KEPT:
            _CRATES.clear()
        crates = _CRATES[key] = _library_crates(facts)
    with contextlib.suppress(TypeError):
        _BY_FACTS[facts] = crates
    return crates


def _library_crates(facts: Facts) -> dict[str, Crate]:
    crates: dict[str, Crate] = {}
    for manifest_path in sorted(
        facts.by_basename(MANIFEST), key=lambda p: (p.count("/"), p)
    ):
        manifest = _parsed(facts.read_text(manifest_path))
        package = manifest.get("package")
        lib = manifest.get("lib")
        lib = lib if isinstance(lib, dict) else {}
        name = lib.get("name")
        if not isinstance(name, str) and isinstance(package, dict):
            name = package.get("name")
        if not isinstance(name, str) or not isinstance(package, dict):
            continue  # a virtual manifest (a workspace's root): no crate
        directory = posixpath.dirname(manifest_path)
        path = lib.get("path")
        root = posixpath.normpath(path if isinstance(path, str) else "src/lib.rs")
        if root.startswith(("../", "/")) or root == "..":
            continue  # no library of the workspace
        crate = Crate(join(directory, posixpath.dirname(root)), join(directory, root))
        # Two packages of one name: the shallower wins (the other is usually
        # a test fixture).
        crates.setdefault(name.replace("-", "_"), crate)
    return crates


@lru_cache(maxsize=256)
def _parsed(text: str | None) -> dict[str, Any]:
    # Cached by text: every import of a crate reads the same manifest.
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError):  # not TOML; nested past the parser
        return {}
