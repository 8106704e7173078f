"""The per-candidate factors of ``search``: name, docstring and kind scores.

How well one symbol's name and docstring answer a query's words, and what
its kind is worth; ``daemon/query/search.py`` (the module docstring there
describes the formula) gathers candidates and combines these.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from axd.daemon.store.fts import split_identifier

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_DOC_CHARS = 2000  # docstring text compared with the query (a summary is first)
_DEFINITION_KINDS = frozenset(
    {"function", "method", "class", "struct", "interface", "trait", "enum", "module",
     "namespace", "type", "macro"}
)  # fmt: skip
_VALUE_KINDS = frozenset({"constant", "variable", "field", "property"})
_MIN_PREFIX = 3  # a shorter query is no name prefix worth ranking


@dataclass(slots=True)
class Symbol:
    """A symbol defined in a candidate chunk."""

    name: str
    qualified_name: str
    kind: str
    docstring: str | None
    line: int


def kind_weight(kind: str, wanted: Sequence[str]) -> float:
    if kind in wanted or kind in _DEFINITION_KINDS:
        return 1.0
    if kind in _VALUE_KINDS:
        return 0.6
    if kind in ("key", "heading"):
        return 0.5
    return 0.2


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude English stem, applied to both sides of a comparison.

    Not linguistics: only the endings that separate a query word from the
    identifier it means (``directories``/``directory``, ``parsing``/``parse``,
    ``sorted``/``sort``). Short words and words with digits stay as they are.
    """
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""),
                         ("ly", ""), ("es", "e"), ("s", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + repl
            break
    return word.rstrip("e") if len(word) > 4 else word


def stems(words: Iterable[str]) -> frozenset[str]:
    return frozenset(stem(w) for w in words)


@lru_cache(maxsize=65536)
def _identifier_words(identifier: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """An identifier's words and their stems, cached: names repeat across
    candidates and queries."""
    parts = tuple(split_identifier(identifier))
    return parts, stems(parts)


@lru_cache(maxsize=16384)
def _docstringstems(docstring: str) -> tuple[frozenset[str], frozenset[str]]:
    """Stems of the summary (first paragraph) and of the whole docstring."""
    doc = docstring.strip()[:_DOC_CHARS]
    summary = stems(split_identifier(doc.split("\n\n", 1)[0]))
    return summary, summary | stems(split_identifier(doc))


def name_score(
    symbol: Symbol,
    raw: str,
    words: tuple[str, ...],
    wanted: frozenset[str],
    context: frozenset[str],
) -> float:
    """How well the symbol's name answers the query (see the module docstring).

    `words` are the query's words, `wanted` their stems, `context` the stems
    of the file's path words: ``thread pool executor submit`` finds
    ``ThreadPoolExecutor.submit`` before ``Executor.submit`` through its
    qualified name, ``tempfile`` functions through the path.
    """
    return NameQuery(raw, words, wanted).score(symbol, context)


class NameQuery:
    """The query's side of `name_score`, computed once per query: ranking
    scores every symbol of every candidate chunk (thousands, many of them
    sharing a name: fields, overloads, vendored copies), so what depends
    on the name alone is computed once per name."""

    __slots__ = (
        "by_name",
        "head",
        "n",
        "prefix",
        "raw",
        "raw_lower",
        "wanted",
        "words",
    )

    def __init__(
        self, raw: str, words: tuple[str, ...], wanted: frozenset[str]
    ) -> None:
        self.raw = raw
        self.raw_lower = raw.lower()
        self.words = words
        self.wanted = wanted
        self.head = words[:-1]
        self.n = len(words)
        self.prefix = len(raw) >= _MIN_PREFIX
        # name -> its score, or (its word count, the wanted stems it lacks)
        self.by_name: dict[str, float | tuple[int, tuple[str, ...]]] = {}

    def _name_part(self, name: str) -> float | tuple[int, tuple[str, ...]]:
        if name == self.raw:
            return 1.0
        lowered = name.lower()
        if lowered == self.raw_lower:
            return 0.95
        parts, own = _identifier_words(name)
        words, n = self.words, self.n
        if parts == words:
            return 0.9
        if not n:
            return 0.0
        if self.prefix and (
            lowered.startswith(self.raw_lower)
            or (
                n <= len(parts)
                and parts[: n - 1] == self.head
                and parts[n - 1].startswith(words[-1])
            )
        ):
            return 0.88  # the name as typed so far: `NextEntryOff`, `new_from_str`
        return len(parts), tuple(w for w in self.wanted if w not in own)

    def score(self, symbol: Symbol, context: frozenset[str]) -> float:
        """`name_score` of `symbol` in a file whose path words are `context`."""
        part = self.by_name.get(symbol.name)
        if part is None:
            part = self.by_name[symbol.name] = self._name_part(symbol.name)
        if isinstance(part, float):
            return part
        length, missing = part
        qualified, qualified_stems = _identifier_words(symbol.qualified_name)
        if not missing and len(qualified) == length:
            return 0.6  # every word in the name, nothing around it to add
        if len(qualified) > length and qualified[-self.n :] == self.words:
            return 0.85
        # A word found only in the qualified name or the path counts half.
        around = sum(1 for w in missing if w in qualified_stems or w in context)
        wanted = len(self.wanted)
        return 0.6 * (wanted - len(missing) + 0.5 * around) / wanted


def doc_score(symbols: list[Symbol], wanted: frozenset[str]) -> float:
    """Share of the `wanted` stems in the symbols' docstrings (past the
    summary: half)."""
    if not wanted:
        return 0.0
    summary: set[str] = set()
    found: set[str] = set()
    for symbol in symbols:
        if symbol.docstring:
            head, whole = _docstringstems(symbol.docstring)
            summary |= head
            found |= whole
    return (len(wanted & summary) + 0.5 * len(wanted & found - summary)) / len(wanted)
