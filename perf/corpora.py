"""Real public repositories, pinned, for the accuracy measurements.

The table below names each repository, the commit measured and its main
language. The repositories are not in this repo and are never fetched by
these scripts: a developer brings a bare git directory of each with the
workplace's ``fetch`` tool (``/work/.mirror/<owner>+<name>/repo``, or any
directory given by ``--mirrors``), and `ensure()` extracts the pinned commit
into a cache outside the repo (``~/.cache/axd-corpora/<owner>+<name>``
unless ``AXD_CORPORA`` says otherwise) with ``git archive``.

A corpus whose mirror or commit is absent is skipped with a note (CI has no
fetch): callers get only what is there and exit 0 when nothing is.

    .venv/bin/python perf/corpora.py [--languages c,go] [--list]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIRRORS = Path("/work/.mirror")
DEFAULT_CACHE = Path.home() / ".cache" / "axd-corpora"


@dataclass(frozen=True, slots=True)
class Corpus:
    """One pinned repository."""

    repo: str  # owner/name on GitHub
    commit: str
    language: str  # axd registry name of the language it is measured for

    @property
    def slug(self) -> str:
        return self.repo.replace("/", "+")


CORPORA: tuple[Corpus, ...] = (
    Corpus("vuejs/core", "e2bede96134f757aad5c5b33ac9be055022dbfc8", "typescript"),
    Corpus("colinhacks/zod", "e516c3baf22615e20934116abebfed6c000222c2", "typescript"),
    Corpus("jquery/jquery", "51eb576cca6ffce252dc152bf8e91d5230a0d887", "javascript"),
    Corpus(
        "expressjs/express", "a3714473feb3d2908add734d340e7755fd85e0a3", "javascript"
    ),
    Corpus("libuv/libuv", "6179e7af87413396d5853a1c3722c8b5749336c8", "c"),
    Corpus("jqlang/jq", "579e6f76cffd7643ba4002a2c3618a5ea710589a", "c"),
    Corpus("google/leveldb", "78a352f47ed6c1e9d750545e9b242289185b87e1", "cpp"),
    Corpus("fmtlib/fmt", "60ccad511fd680cb91d8b60a315759f71c67bef9", "cpp"),
    Corpus("rack/rack", "8bf4eb078498edc9105fb04add80d89c5340e60b", "ruby"),
    Corpus("sinatra/sinatra", "cb22afd7902b566b6eaba6c4ea89739494a65d12", "ruby"),
    Corpus("BurntSushi/ripgrep", "3fce3b5bb0236da2df6d99672afb8a719642eca7", "rust"),
    Corpus("serde-rs/serde", "1023d077510b4aef36a41ef56fdb7798568a2654", "rust"),
    Corpus("gin-gonic/gin", "dcaa4296d111981ffb31ac3eba90bb63e1eb5ab9", "go"),
    Corpus("junegunn/fzf", "956562daaa82ddf55ea8f7aeab56883377b742c6", "go"),
    Corpus("google/gson", "9835b6f90192f79cdf5300c528fc6212455fb6c1", "java"),
    Corpus("jhy/jsoup", "46b620860af930eedc193a705eaf7cea5aec89a6", "java"),
    Corpus("serilog/serilog", "60935b4d7abad71cf6157b45a10f5c3c65ead527", "csharp"),
    Corpus(
        "AutoMapper/AutoMapper", "4b9633f60ee386cf0efc69b967e04fa28405cf3e", "csharp"
    ),
    Corpus("square/okio", "4164f2976ac7174f3d35d52150e8ffbdbe0acbec", "kotlin"),
    Corpus("InsertKoinIO/koin", "fff5291f333c04fe5d6d9447f72740647d40d186", "kotlin"),
    Corpus("guzzle/guzzle", "2779e868a00289e1b1fd854af030c43a06f4bcb4", "php"),
    Corpus("slimphp/Slim", "038fd5713d5a41636fdff0e8dcceedecdd17fc17", "php"),
    Corpus("Alamofire/Alamofire", "7595cbcf59809f9977c5f6378500de2ad73b7ddb", "swift"),
    Corpus(
        "apple/swift-argument-parser",
        "2f77f2fccb6e84fecff338c37b199e33e7dfd119",
        "swift",
    ),
)


# The larger repositories that, with `CORPORA`, make the pool of the
# 100,000-file benchmark corpus (`corpus.py --pinned`): Go, TypeScript/Rust,
# PHP, Ruby and Java trees of the size real users index. deno and moby are
# also the two real repositories of the cold-index benchmark.
LARGE: tuple[Corpus, ...] = (
    Corpus("denoland/deno", "98f9507affc905f088124891add3a8dd63b91f77", "rust"),
    Corpus("moby/moby", "b985e2313a8676e18072b442911fc8f64f17d440", "go"),
    Corpus("symfony/symfony", "5feb7493c372384d78b4931bb76f73c83f49f50e", "php"),
    Corpus("laravel/framework", "bd71b45fbb7e672957bf6ff61baddefe15fbca6a", "php"),
    Corpus("rails/rails", "2a2db1e8d6d104ee0611efcae7eb023af65cff34", "ruby"),
    Corpus(
        "spring-projects/spring-framework",
        "91eb42645e26a7ef9382b4a655bcefe5c8682fee",
        "java",
    ),
    Corpus("sveltejs/svelte", "15720b16a5ef33e3e1f4301c77b94ec375070e73", "javascript"),
)

# Every repository of the 100k-file benchmark corpus, in a fixed order.
BENCH: tuple[Corpus, ...] = LARGE + CORPORA


def cache_dir() -> Path:
    return Path(os.environ.get("AXD_CORPORA", str(DEFAULT_CACHE)))


def mirror_of(corpus: Corpus, mirrors: Path = DEFAULT_MIRRORS) -> Path:
    return mirrors / corpus.slug / "repo"


def ensure(corpus: Corpus, mirrors: Path = DEFAULT_MIRRORS) -> Path | None:
    """The extracted tree of `corpus`, extracting it first if needed.

    None (after a note on stderr) when neither the tree nor its mirror with
    the pinned commit is on this machine.
    """
    target = cache_dir() / corpus.slug
    stamp = target / ".axd-commit"
    if stamp.is_file() and stamp.read_text("utf-8").strip() == corpus.commit:
        return target
    git = shutil.which("git")
    mirror = mirror_of(corpus, mirrors)
    if git is None or not mirror.is_dir():
        print(f"note: {corpus.repo} is not fetched here; skipped", file=sys.stderr)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as temporary:
        command = [git, f"--git-dir={mirror}", "archive", "--format=tar"]
        archive = subprocess.run(
            [*command, corpus.commit], capture_output=True, check=False
        )
        if archive.returncode != 0:
            # Snapshots lack files of 4 MiB and more: leave those out.
            missing = [f":(exclude){path}" for path in _missing(git, mirror, corpus)]
            if missing:
                archive = subprocess.run(
                    [*command, corpus.commit, "--", ".", *missing],
                    capture_output=True,
                    check=False,
                )
        if archive.returncode != 0:
            print(
                f"note: {corpus.repo} has no commit {corpus.commit[:12]}; skipped",
                file=sys.stderr,
            )
            return None
        unpacked = Path(temporary) / "tree"
        unpacked.mkdir()
        subprocess.run(
            ["tar", "-x", "-C", str(unpacked)], input=archive.stdout, check=True
        )
        (unpacked / ".axd-commit").write_text(corpus.commit + "\n", "utf-8")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def _missing(git: str, mirror: Path, corpus: Corpus) -> list[str]:
    """Paths at the pinned commit whose blobs the snapshot does not hold."""
    listed = subprocess.run(
        [git, f"--git-dir={mirror}", "ls-tree", "-r", corpus.commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        return []
    blobs: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        meta, _tab, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs[parts[2]] = path
    checked = subprocess.run(
        [git, f"--git-dir={mirror}", "cat-file", "--batch-check"],
        input="\n".join(blobs) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        blobs[line.split()[0]]
        for line in checked.stdout.splitlines()
        if line.endswith(" missing") and line.split()[0] in blobs
    ]


def available(
    languages: set[str] | None = None, mirrors: Path = DEFAULT_MIRRORS
) -> list[tuple[Corpus, Path]]:
    """Every pinned corpus (of `languages`, if given) present or extractable."""
    out: list[tuple[Corpus, Path]] = []
    for corpus in CORPORA:
        if languages is not None and corpus.language not in languages:
            continue
        tree = ensure(corpus, mirrors)
        if tree is not None:
            out.append((corpus, tree))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--languages", help="comma-separated axd language names")
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    parser.add_argument("--list", action="store_true", help="only print the table")
    args = parser.parse_args()
    languages = set(args.languages.split(",")) if args.languages else None
    if args.list:
        for corpus in CORPORA:
            print(f"{corpus.language:<11} {corpus.repo:<30} {corpus.commit}")
        return
    for corpus, tree in available(languages, args.mirrors):
        print(f"{corpus.language:<11} {corpus.repo:<30} {tree}")


if __name__ == "__main__":
    main()
