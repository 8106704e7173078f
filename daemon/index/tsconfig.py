"""The ``compilerOptions`` that map a JS/TS bare specifier to a file.

What `resolvers._javascript` needs from the nearest ``tsconfig.json`` (or
``jsconfig.json``) above an importing file: ``paths`` and ``baseUrl``, with
the ``extends`` chain applied as TypeScript applies it, because a monorepo
usually writes its ``paths`` once, in a root config every package's config
extends (``packages/client/tsconfig.json``: ``"extends":
"../../tsconfig.json"``).

TypeScript's rules kept here:

* ``extends`` is a path relative to the config (``./base``, ``../x.json``;
  ``.json`` may be left out), a list of them (TypeScript 5: later entries
  win), or a package name, looked up in ``node_modules`` directories above
  the config when the workspace indexes them (it usually ignores them; the
  base is then not found and the config counts alone).
* A config's own options override its bases' key by key; ``paths`` is
  replaced whole, never merged.
* ``baseUrl`` is relative to the config that sets it; ``paths`` targets are
  relative to ``baseUrl`` when one is set anywhere in the chain, else to the
  config that sets ``paths``.

Chains are followed up to `MAX_EXTENDS` configs deep; a cycle ends one.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from axd.daemon.index.relpaths import ancestors, join, normalize

if TYPE_CHECKING:
    from axd.daemon.index.resolvers import Facts

__all__ = [
    "CONFIG_NAMES",
    "MAX_EXTENDS",
    "SHARED_CONFIG",
    "PathOptions",
    "nearest",
    "parse_jsonc",
]

# The names of the config a directory's files are compiled with.
CONFIG_NAMES = ("tsconfig.json", "jsconfig.json")
# The usual names of the configs they extend: tsconfig.base.json,
# tsconfig.build.json, jsconfig.common.json...
SHARED_CONFIG = re.compile(r"[tj]sconfig\..+\.json")
MAX_EXTENDS = 10

# Comments and trailing commas outside strings (strings are matched first
# and kept, so "http://x" and "a/*b" survive).
_JSONC = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/|,(?=\s*[\]}])', re.DOTALL)


def parse_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas, as tsconfig.json allows."""
    return json.loads(_JSONC.sub(lambda m: m.group(1) or "", text))


@dataclass(frozen=True, slots=True)
class PathOptions:
    """``paths`` and ``baseUrl`` of a config, its bases applied."""

    paths: dict[str, Any] | None
    # Where `paths` targets are relative to: baseUrl's directory if set,
    # else the directory of the config that sets `paths`.
    paths_base: str
    # baseUrl's directory (workspace-relative), None when unset or outside.
    base_url: str | None


def nearest(importer: str, facts: Facts) -> PathOptions | None:
    """The options of the config closest above `importer`, or None."""
    for directory in ancestors(posixpath.dirname(importer)):
        for name in CONFIG_NAMES:
            path = join(directory, name)
            if facts.exists(path):
                return _options(path, facts)
    return None


@dataclass(slots=True)
class _Chain:
    """What the configs read so far set; the nearest one's value wins."""

    paths: dict[str, Any] | None = None
    paths_dir: str = ""
    base_url: str | None = None
    has_base_url: bool = False


def _options(path: str, facts: Facts) -> PathOptions:
    chain = _Chain(paths_dir=posixpath.dirname(path))
    _apply(path, facts, chain, seen=set())
    if not chain.has_base_url:
        return PathOptions(chain.paths, chain.paths_dir, None)
    if chain.base_url is None:  # a baseUrl outside the workspace
        return PathOptions(None, "", None)
    return PathOptions(chain.paths, chain.base_url, chain.base_url)


def _apply(path: str, facts: Facts, chain: _Chain, seen: set[str]) -> None:
    """Fill `chain` from `path` and its bases: bases first, then `path`."""
    if path in seen or len(seen) >= MAX_EXTENDS:
        return
    seen.add(path)
    config = _read(path, facts)
    directory = posixpath.dirname(path)
    bases = config.get("extends")
    if isinstance(bases, str):
        bases = [bases]
    for base in bases if isinstance(bases, list) else []:
        if isinstance(base, str):
            found = _base_path(base, directory, facts)
            if found is not None:
                _apply(found, facts, chain, seen)
    options = config.get("compilerOptions")
    if not isinstance(options, dict):
        return
    if isinstance(options.get("paths"), dict):
        chain.paths, chain.paths_dir = options["paths"], directory
    base_url = options.get("baseUrl")
    if isinstance(base_url, str):
        chain.base_url = normalize(posixpath.join(directory, base_url))
        chain.has_base_url = True


def _read(path: str, facts: Facts) -> dict[str, Any]:
    text = facts.read_text(path)
    return _parsed(text) if text else {}


@lru_cache(maxsize=256)
def _parsed(text: str) -> dict[str, Any]:
    # Cached by text: every import of a package reads the same few configs.
    try:
        config = parse_jsonc(text)
    except (ValueError, RecursionError):  # not JSON; nested past the parser
        return {}
    return config if isinstance(config, dict) else {}


def _base_path(spec: str, directory: str, facts: Facts) -> str | None:
    """The workspace file an ``extends`` entry names, if it has it."""
    if spec.startswith(("./", "../")):
        bases = [posixpath.join(directory, spec)]
    elif spec.startswith("/") or not spec:
        return None
    else:  # a package: node_modules above the config
        bases = []
        above = directory
        while True:
            modules = posixpath.join(above, "node_modules") if above else "node_modules"
            bases.append(posixpath.join(modules, spec))
            if not above:
                break
            above = posixpath.dirname(above)
    for base in bases:
        inside = normalize(base)
        if inside is None:
            continue
        for candidate in (inside, inside + ".json", inside + "/tsconfig.json"):
            if facts.exists(candidate):
                return candidate
    return None
