"""Import resolution: a module string as written → the workspace file, or None.

Each language's rules live in `daemon/index/resolvers.py` and hang off its
registry entry (`LanguageSpec.resolver`); this module only looks them up, so
a new language's imports need no change here. The rules themselves are
described in ``resolvers.py``.
"""

from __future__ import annotations

import posixpath
from functools import lru_cache

from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.resolvers import Facts
from axd.daemon.index.tsconfig import parse_jsonc

__all__ = [
    "CONFIG_FILES",
    "RULES_VERSION",
    "Facts",
    "config_scope",
    "file_components",
    "import_key",
    "parse_jsonc",
    "resolve_import",
]

# Files whose content or existence changes how other files' imports resolve:
# basename → languages whose imports below that directory are re-resolved.
CONFIG_FILES: dict[str, frozenset[str]] = {
    basename: frozenset(
        spec.name
        for spec in LANGUAGES.values()
        if spec.resolver is not None and basename in spec.resolver.config_files
    )
    for basename in {
        name
        for spec in LANGUAGES.values()
        if spec.resolver is not None
        for name in spec.resolver.config_files
    }
}


# The version of the import rules (here and in `resolvers`): an index linked
# under another is relinked once after a start (`store/linker.RULES_KEY`).
# 1: before it was recorded. 2: tsconfig `extends`; Go `vendor/` and local
# `replace`; Rust crate roots from `[lib] path` and workspace crates by name;
# Kotlin, and Java importing Kotlin classes.
RULES_VERSION = 2

# Files such configs may extend (tsconfig.base.json): basename pattern →
# the languages whose imports anywhere in the workspace are re-resolved.
_SHARED_CONFIGS = [
    (spec.resolver.shared_configs, spec.name)
    for spec in LANGUAGES.values()
    if spec.resolver is not None and spec.resolver.shared_configs is not None
]


def config_scope(path: str) -> tuple[str, frozenset[str]] | None:
    """Whether a change to `path` can change how imports resolve: the
    directory whose files' imports to re-resolve ("" for all of them) and of
    which languages; None when it cannot."""
    basename = posixpath.basename(path)
    languages = CONFIG_FILES.get(basename)
    if languages is not None:
        return posixpath.dirname(path), languages
    shared = _shared_config_languages(basename)
    return ("", shared) if shared else None


@lru_cache(maxsize=4096)
def _shared_config_languages(basename: str) -> frozenset[str]:
    # Asked for every file a batch writes: names repeat (mod.rs, index.ts).
    return frozenset(
        name for pattern, name in _SHARED_CONFIGS if pattern.fullmatch(basename)
    )


def file_components(path: str) -> set[str]:
    """Stems and directory names of `path`; an import's key must be one of them."""
    parts = path.split("/")
    base = parts[-1]
    comps = set(parts[:-1])
    if base.startswith("."):
        comps.add(base)
    else:
        comps.add(base.split(".", 1)[0])
        comps.add(base.rsplit(".", 1)[0])
    comps.discard("")
    return comps


def import_key(module: str, language: str | None) -> str | None:
    """The path component every possible target of this import contains.

    A file added or deleted whose `file_components` include the key may change
    the import's resolution; None means the import can never resolve.
    """
    spec = LANGUAGES.get(language) if language else None
    if spec is None or spec.resolver is None:
        return None
    return spec.resolver.key(module)


def resolve_import(
    module: str, importer: str, language: str | None, facts: Facts
) -> str | None:
    """The workspace file `module` (as written in `importer`) loads, or None."""
    if not module or language is None:
        return None
    spec = LANGUAGES.get(language)
    if spec is None or spec.resolver is None:
        return None
    return spec.resolver.resolve(module, importer, facts)
