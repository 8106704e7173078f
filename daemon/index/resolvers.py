"""Each language's import rules: a module string as written → the workspace file.

A `Resolver` per language, referenced by its `LanguageSpec` in
`daemon/index/languages.py`; `daemon/index/resolve.py` looks it up there.

Resolvers are pure functions over a `Facts` view of the workspace's file set,
so they run the same against the database (inside the writer's transaction)
and against a dict in tests. Nothing is guessed: an import resolves only to a
file the language's own rules would load.

* Python: relative ``.x``/``..x`` from the importing package; absolute ``a.b``
  as ``a/b.py`` or ``a/b/__init__.py`` searched from the workspace root, from
  ``src/`` (src layout) and from the importing file's top-level package root
  (the directory above its outermost ``__init__.py``; a script's own
  directory when it is not in a package).
* JS/TS: relative specifiers try the exact file, then ``.ts .tsx .js .jsx .mjs
  .cjs .d.ts``, then ``/index.*``; ``./x.js`` also finds ``x.ts`` (TS ESM).
  Bare specifiers resolve only through the nearest ``tsconfig.json`` /
  ``jsconfig.json`` ``compilerOptions.paths``/``baseUrl``, its ``extends``
  chain applied (``daemon/index/tsconfig.py``).
* Go: the nearest ``go.mod``'s ``module`` path maps an import path to a package
  directory; another module's package is read from ``vendor/`` when the
  module vendors (``vendor/modules.txt``, ``go`` 1.14 or later), else from a
  ``replace`` by a local directory. The import resolves to one
  representative file, the lexicographically first non-test ``.go`` file.
* Rust: ``crate::``/``self::``/``super::`` (and uniform paths relative to the
  current module) → ``a/b.rs`` or ``a/b/mod.rs`` below the directory of the
  crate's root (``src/``, or where ``[lib] path`` puts it), the longest
  module prefix that exists (trailing items such as ``Cache`` are not
  files); a path starting with the name of a library crate of the workspace
  → that crate's module, its root file when no module prefix is a file
  (``daemon/index/cargo.py``).
* Java and Kotlin: ``com.example.Foo`` → any ``**/com/example/Foo.java`` or
  ``Foo.kt`` (the importer's own language first: either may use the other's
  classes); the shortest path wins. Trailing members (static imports,
  top-level functions) are dropped until a class file matches. Kotlin does
  not require a class's file to be named after it under its package's
  directory; its conventions do, and only such files are found.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from axd.daemon.index import cargo, tsconfig
from axd.daemon.index.relpaths import ancestors as _ancestors
from axd.daemon.index.relpaths import join as _join
from axd.daemon.index.relpaths import normalize as _normalize

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.index.tsconfig import PathOptions

_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")
_JS_OUTPUT_EXTENSIONS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",)}
_JS_STRIP = (".d.ts", ".tsx", ".ts", ".jsx", ".js", ".mjs", ".cjs", ".mts", ".cts")

_GO_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)", re.MULTILINE)
# Crates every Rust program can name that no workspace holds.
_RUST_EXTERNAL = frozenset({"std", "core", "alloc", "proc_macro", "test"})
_GO_VERSION = re.compile(r"^\s*go\s+(\d+)\.(\d+)", re.MULTILINE)
# `replace path [version] => ./local` (alone or in a `replace (...)` block;
# only a replace has `=>`); replacements by another module path are not files.
_GO_REPLACE = re.compile(
    r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s*=>\s*(\.\.?(?:/\S*)?)\s*$", re.MULTILINE
)


class Facts(Protocol):
    """What resolvers may ask about the workspace."""

    def exists(self, path: str) -> bool:
        """Whether `path` (workspace-relative) is a file of the workspace."""
        ...

    def list_dir(self, directory: str) -> list[str]:
        """Files directly inside `directory` ("" is the root), sorted."""
        ...

    def by_basename(self, name: str) -> list[str]:
        """Every file whose last path component is `name`."""
        ...

    def read_text(self, path: str) -> str | None:
        """The text of a (small, configuration) file, or None."""
        ...

    def versions(self, name: str) -> list[tuple[str, str | None]]:
        """Every file whose last path component is `name`, with a string
        that changes whenever its content does (its content hash)."""
        ...


def _py_module(parts: list[str], facts: Facts) -> str | None:
    base = "/".join(parts)
    candidates = (
        [f"{base}.py", f"{base}/__init__.py", f"{base}.pyi", f"{base}/__init__.pyi"]
        if base
        else ["__init__.py"]
    )
    for candidate in candidates:
        if facts.exists(candidate):
            return candidate
    return None


def _python_roots(importer: str, facts: Facts) -> list[str]:
    directory = posixpath.dirname(importer)
    package_root = directory
    while package_root and facts.exists(_join(package_root, "__init__.py")):
        package_root = posixpath.dirname(package_root)
    roots: list[str] = []
    for root in ("", "src", package_root):
        if root not in roots:
            roots.append(root)
    return roots


def _python(module: str, importer: str, facts: Facts) -> str | None:
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        rest = module[level:]
        base = posixpath.dirname(importer)
        for _ in range(level - 1):
            if not base:
                return None  # beyond the top-level package
            base = posixpath.dirname(base)
        parts = [p for p in base.split("/") if p] + (rest.split(".") if rest else [])
        if base == "" and not rest:
            return _py_module([], facts)
        return _py_module(parts, facts) if all(parts) else None
    parts = module.split(".")
    if not all(parts):
        return None
    for root in _python_roots(importer, facts):
        found = _py_module([p for p in root.split("/") if p] + parts, facts)
        if found is not None:
            return found
    return None


def _js_file(base: str, facts: Facts) -> str | None:
    stem, ext = posixpath.splitext(base)
    if ext and facts.exists(base):
        return base
    for alt in _JS_OUTPUT_EXTENSIONS.get(ext, ()):
        if facts.exists(stem + alt):
            return stem + alt
    for candidate_ext in _JS_EXTENSIONS:
        if facts.exists(base + candidate_ext):
            return base + candidate_ext
    for candidate_ext in _JS_EXTENSIONS:
        candidate = _join(base, "index" + candidate_ext)
        if facts.exists(candidate):
            return candidate
    return None


def _ts_paths(spec: str, options: PathOptions, facts: Facts) -> str | None:
    """`spec` through ``paths`` (the most specific pattern), else ``baseUrl``."""
    paths = options.paths
    best: tuple[int, str, list[str]] | None = None  # (specificity, star, targets)
    if paths is not None:
        for pattern, targets in paths.items():
            if not isinstance(pattern, str) or not isinstance(targets, list):
                continue
            if "*" in pattern:
                prefix, suffix = pattern.split("*", 1)
                fits = (
                    spec.startswith(prefix)
                    and spec.endswith(suffix)
                    and len(spec) >= len(prefix) + len(suffix)
                )
                if fits and (best is None or len(prefix) > best[0]):
                    star = spec[len(prefix) : len(spec) - len(suffix)]
                    best = (
                        len(prefix),
                        star,
                        [t for t in targets if isinstance(t, str)],
                    )
            elif pattern == spec:
                best = (1 << 30, "", [t for t in targets if isinstance(t, str)])
                break
    if best is not None:
        for target in best[2]:
            joined = _normalize(_join(options.paths_base, target.replace("*", best[1])))
            found = _js_file(joined, facts) if joined is not None else None
            if found is not None:
                return found
    if options.base_url is not None:
        joined = _normalize(_join(options.base_url, spec))
        return _js_file(joined, facts) if joined else None
    return None


def _javascript(spec: str, importer: str, facts: Facts) -> str | None:
    if spec.startswith(("./", "../")) or spec in (".", ".."):
        joined = _normalize(_join(posixpath.dirname(importer), spec))
        return _js_file(joined, facts) if joined is not None else None
    if spec.startswith("/") or ":" in spec:  # absolute or a URL/node: scheme
        return None
    options = tsconfig.nearest(importer, facts)
    return _ts_paths(spec, options, facts) if options is not None else None


def _go(spec: str, importer: str, facts: Facts) -> str | None:
    directory: str | None = None
    if spec.startswith(("./", "../")):
        directory = _normalize(_join(posixpath.dirname(importer), spec))
    else:
        for candidate in _ancestors(posixpath.dirname(importer)):
            text = facts.read_text(_join(candidate, "go.mod"))
            if text is None:
                continue
            match = _GO_MODULE.search(text)
            if match is None:
                return None
            module = match[1]
            if spec == module:
                directory = candidate
            elif spec.startswith(module + "/"):
                directory = _normalize(_join(candidate, spec[len(module) + 1 :]))
            elif _go_vendors(text, candidate, facts):
                directory = _normalize(_join(candidate, "vendor", spec))
            else:
                directory = _go_replaced(spec, text, candidate)
            break
    if directory is None:
        return None
    sources = [
        p
        for p in facts.list_dir(directory)
        if p.endswith(".go") and not p.endswith("_test.go")
    ]
    return min(sources) if sources else None


def _go_vendors(go_mod: str, directory: str, facts: Facts) -> bool:
    """Whether the module builds from its vendor directory: Go does when
    ``vendor/modules.txt`` exists and the ``go`` directive is 1.14 or later
    (1.16 when there is none)."""
    if not facts.exists(_join(directory, "vendor", "modules.txt")):
        return False
    version = _GO_VERSION.search(go_mod)
    return version is None or (int(version[1]), int(version[2])) >= (1, 14)


def _go_replaced(spec: str, go_mod: str, directory: str) -> str | None:
    """The directory of `spec` under a ``replace`` by a local path."""
    for replaced, local in _GO_REPLACE.findall(go_mod):
        if spec == replaced or spec.startswith(replaced + "/"):
            rest = spec[len(replaced) + 1 :]
            return _normalize(_join(directory, local, rest))
    return None


def _rust_components(spec: str) -> list[str]:
    spec = re.sub(r"::\{.*$|::\*$", "", spec.strip(), flags=re.DOTALL)
    spec = spec.split(" as ", 1)[0].strip()
    return [p for p in spec.split("::") if p]


def _rust(spec: str, importer: str, facts: Facts) -> str | None:
    crate = cargo.importing_crate(importer, facts)
    if crate is None:
        return None
    comps = _rust_components(spec)
    if not comps:
        return None
    module = _rust_module(importer, crate)
    if comps[0] == "crate":
        base, comps = [], comps[1:]
    elif comps[0] == "self":
        base, comps = module, comps[1:]
    elif comps[0] == "super":
        base = module
        while comps and comps[0] == "super":
            if not base:
                return None
            base, comps = base[:-1], comps[1:]
    else:
        # 2018 uniform paths: relative to the current module, else another
        # crate of the workspace by name.
        found = _rust_file(crate, module, comps, importer, facts)
        if found is not None or comps[0] in _RUST_EXTERNAL:
            return found
        other = cargo.crate_named(comps[0], facts)
        if other is None or other.root == importer:
            return None
        # `deno_fs::FsError`: an item of the crate's root module.
        return _rust_file(other, [], comps[1:], importer, facts) or other.root
    return _rust_file(crate, base, comps, importer, facts)


def _rust_module(importer: str, crate: cargo.Crate) -> list[str]:
    """The module path of `importer` in `crate` (its root: [])."""
    if importer == crate.root:
        return []
    start = len(crate.module_dir) + 1 if crate.module_dir else 0
    relative = importer[start:]
    if relative in ("lib.rs", "main.rs"):
        return []
    module = relative.removesuffix(".rs").split("/")
    return module[:-1] if module[-1] == "mod" else module


def _rust_file(
    crate: cargo.Crate, base: list[str], comps: list[str], importer: str, facts: Facts
) -> str | None:
    """The longest module prefix of `base` + `comps` that is a file (the
    trailing items, ``Cache`` or ``new``, are not)."""
    for k in range(len(comps), 0, -1):
        path = _join(crate.module_dir, *base, *comps[:k])
        for candidate in (f"{path}.rs", f"{path}/mod.rs"):
            if facts.exists(candidate) and candidate != importer:
                return candidate
    return None


def _jvm(spec: str, facts: Facts, extensions: tuple[str, ...]) -> str | None:
    """A class's file under its package's directories: the longest prefix of
    `spec` that is one, trying `extensions` in order for each."""
    parts = [p for p in spec.split(".") if p and p != "*"]
    for k in range(len(parts), 1, -1):
        for extension in extensions:
            suffix = "/".join(parts[:k]) + extension
            matches = [
                p
                for p in facts.by_basename(parts[k - 1] + extension)
                if p == suffix or p.endswith("/" + suffix)
            ]
            if matches:
                return min(matches, key=lambda p: (len(p), p))
    return None


# -- keys: the path component every possible target of an import contains ------


def _python_key(module: str) -> str | None:
    rest = module.lstrip(".")
    if not rest:
        return "__init__"
    return rest.rsplit(".", 1)[-1] or None


def _javascript_key(module: str) -> str | None:
    last = module.rstrip("/").rsplit("/", 1)[-1]
    if last in ("", ".", ".."):
        return "index"
    for ext in _JS_STRIP:
        if last.endswith(ext) and len(last) > len(ext):
            return last[: -len(ext)]
    return last


def _go_key(module: str) -> str | None:
    return module.rstrip("/").rsplit("/", 1)[-1] or None


def _rust_key(module: str) -> str | None:
    comps = _rust_components(module)
    while comps and comps[0] in ("crate", "self", "super"):
        comps = comps[1:]
    return comps[0] if comps else None


def _java_key(module: str) -> str | None:
    parts = [p for p in module.split(".") if p and p != "*"]
    capitalised = [p for p in parts if p[0].isupper()]
    if capitalised:
        return capitalised[0]
    return parts[-1] if parts else None


def _java_resolve(spec: str, _importer: str, facts: Facts) -> str | None:
    return _jvm(spec, facts, (".java", ".kt"))  # Kotlin classes are Java's too


def _kotlin_resolve(spec: str, _importer: str, facts: Facts) -> str | None:
    return _jvm(spec, facts, (".kt", ".java"))


@dataclass(frozen=True, slots=True)
class Resolver:
    """One language's import rules, hung off its `LanguageSpec`."""

    # (module as written, importing file, facts) -> the file it loads, or None
    resolve: Callable[[str, str, Facts], str | None]
    # module -> the key `resolve.import_key` documents, None: never resolves
    key: Callable[[str], str | None]
    # Basenames of files whose content or existence changes how this
    # language's imports below their directory resolve.
    config_files: tuple[str, ...] = ()
    # Basenames of files those configs may extend, wherever they are: a
    # change re-resolves the language's imports in the whole workspace.
    shared_configs: re.Pattern[str] | None = None


PYTHON = Resolver(_python, _python_key, ("__init__.py",))
JAVASCRIPT = Resolver(
    _javascript, _javascript_key, tsconfig.CONFIG_NAMES, tsconfig.SHARED_CONFIG
)
GO = Resolver(_go, _go_key, ("go.mod",), re.compile(r"modules\.txt"))
RUST = Resolver(_rust, _rust_key, (), re.compile(r"Cargo\.toml"))
JAVA = Resolver(_java_resolve, _java_key)
KOTLIN = Resolver(_kotlin_resolve, _java_key)
