"""Full-text search helpers: identifier splitting, FTS rows, query translation.

The FTS5 table ``chunks_fts`` (see ``migrations/0001_initial.up.sql``) has four
columns per chunk: ``text`` (the chunk as written), ``terms`` (the words of
its compound identifiers, so "parse file" finds ``parseFile``), ``names``
(symbols defined in the chunk, whole and split) and ``docstrings``.

User queries are translated here, never passed through: every term becomes an
FTS5 string literal (``"`` doubled), so no input can produce an FTS5 syntax
error. Syntax: plain words (all must match; English function words such as
"the", "is", "how" are dropped unless nothing else is left), ``"exact
phrase"``, ``-exclude``, ``lang:py``, ``path:src/`` (prefix) or ``path:*.py``
(glob), ``kind:function``. A query of one plain term may be an identifier being typed
(``NextEntryOff``, `ParsedQuery.prefix`): when it finds too little as typed,
``search`` looks for the defined names it starts and searches those
(`ParsedQuery.match_names`), not FTS5's own prefix query (see
``daemon/query/completions.py`` for why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from axd.daemon.index.languages import canonical_language
from axd.daemon.records import SYMBOL_KINDS
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from collections.abc import Iterable

# Chunk kinds that are not symbol kinds but may appear on chunks.
CHUNK_ONLY_KINDS: frozenset[str] = frozenset({"block"})
# The words unicode61 would index: runs of letters and digits. `_` separates,
# as it does for unicode61, so `parse_file` is two tokens.
_WORD = re.compile(r"[^\W_]+")
# Identifier-like tokens of source text, split further by split_identifier.
_IDENTIFIER = re.compile(r"\w+")
# The same tokens of ASCII text, found faster: every byte that is not a word
# character (``[A-Za-z0-9_]``) becomes a space, and bytes.split() cuts there.
_NOT_WORD_TO_SPACE = (
    bytes(byte if chr(byte).isalnum() or byte == 0x5F else 0x20 for byte in range(128))
    + b" " * 128
)
_GLOB_CHARS = frozenset("*?[")
# Where identifiers are split into words (see `_term_expr`).
_IDENTIFIER_COLUMNS = "{terms names} : "
# A lone term shorter than this is no prefix worth completing (too many names).
_MIN_PREFIX = 3
# English function words of a question ("where is the cookie parsed"): they
# narrow nothing in code, and requiring them drops the chunks that answer.
# Dropped from the FTS expressions unless the query has nothing else.
_STOP_TEXT = (
    "a an and are as at be by can could do does for from how i if in into is it"
    " its of on or should that the their there this to was we what when where"
    " which while who why will with would you your"
)
STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())


# The parts `_split_word` cuts an ASCII word into, found by the regex engine
# at C speed (#16, worker CPU: the per-character loop was the worker's
# largest Python cost): a capital run before a capitalised word
# (``HTTP``Server), a word with an optional capital (``Server``, ``parse``),
# a capital run (``URL``), a digit run. Only ``[A-Za-z0-9]`` is consumed, so
# over a whole ASCII identifier `_` and punctuation separate, as `_WORD` does.
_ASCII_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# The same over bytes, with a newline as a part of its own (see compound_terms).
_ASCII_PART_OR_NEWLINE = re.compile(
    rb"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|\n"
)


@lru_cache(maxsize=65536)
def _split_word(word: str) -> tuple[str, ...]:
    """Split one run of letters/digits at case and digit boundaries.

    The general rule, for any script; ASCII identifiers take `_ASCII_PART`,
    which gives the same parts (tests/test_fts_split.py proves it).
    """
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        prev, ch = word[i - 1], word[i]
        boundary = (
            prev.isdigit() != ch.isdigit()
            or (prev.islower() and ch.isupper())
            # the last capital of an acronym starts the next word: HTTPServer
            or (
                prev.isupper()
                and ch.isupper()
                and i + 1 < len(word)
                and word[i + 1].islower()
            )
        )
        if boundary:
            parts.append(word[start:i].lower())
            start = i
    parts.append(word[start:].lower())
    return tuple(parts)


def split_identifier(identifier: str) -> list[str]:
    """Lower-cased words of an identifier.

    ``parseFile`` → parse, file; ``parse_file`` → parse, file; ``utf8Decode`` →
    utf, 8, decode; ``HTTPServer`` → http, server.
    """
    if identifier.isascii():
        # ASCII lower-casing keeps every character where it is, so the parts
        # of the lowered text are the lowered parts.
        return " ".join(_ASCII_PART.findall(identifier)).lower().split()
    parts: list[str] = []
    for word in _WORD.findall(identifier):
        parts.extend(_split_word(word))
    return parts


@lru_cache(maxsize=262144)
def _token_terms(token: str) -> str:
    parts = split_identifier(token)
    return " ".join(parts) if len(parts) > 1 else ""


# compound_terms' per-token answers for ASCII text: a plain dict read through
# map(dict.get) costs half of an lru_cache call per token; emptied when full,
# so a worker holds at most ~10 MB of it.
_ASCII_TERMS: dict[bytes, str] = {}
_ASCII_TERMS_MAX = 65_536


def compound_terms(text: str) -> str:
    """The split words of every identifier in `text` that has more than one.

    Single-word identifiers are already in the ``text`` column; repeating them
    would only double their weight. Cached per token: source text repeats its
    identifiers, and this runs for every chunk the writer inserts.
    """
    # (Anything but a str takes the regex path, whose TypeError the writer's
    # rollback tests expect of a broken record.)
    if isinstance(text, str) and text.isascii():
        # Most chunks: a C translate-and-split finds the tokens of `\w+` in
        # a quarter of the regex's time (#16, worker CPU).
        tokens = text.encode("ascii").translate(_NOT_WORD_TO_SPACE).split()
        try:
            # Every token known (most chunks once a worker is warm): no list
            # of terms to build and scan for misses.
            return " ".join(filter(None, map(_ASCII_TERMS.__getitem__, tokens)))
        except KeyError:
            pass
        if len(_ASCII_TERMS) > _ASCII_TERMS_MAX:
            _ASCII_TERMS.clear()
        missing = [token for token in set(tokens) if token not in _ASCII_TERMS]
        # All the new tokens split in one regex pass, a newline between
        # tokens: the parts of each token end up on a line of their own.
        lines = (
            b" ".join(_ASCII_PART_OR_NEWLINE.findall(b"\n".join(missing)))
            .lower()
            .decode("ascii")
            .split("\n")
        )
        terms = [term if " " in (term := line.strip()) else "" for line in lines]
        _ASCII_TERMS.update(zip(missing, terms, strict=True))
        return " ".join(filter(None, map(_ASCII_TERMS.__getitem__, tokens)))
    return " ".join(filter(None, map(_token_terms, _IDENTIFIER.findall(text))))


# What one entry of each identifier-splitting cache holds on average (key,
# value, the cache's own slot), measured with tracemalloc on the 100k-file
# corpus (perf/RESULTS.md "#16 worker memory (round 6)"): what
# `term_cache_bytes` multiplies, so that a worker bounds the four together
# by bytes without walking them.
_ENTRY_BYTES_SPLIT_WORD = 310
_ENTRY_BYTES_TOKEN_TERMS = 150
_ENTRY_BYTES_ASCII_TERMS = 140
_ENTRY_BYTES_NAME_TERMS = 150


def term_cache_entries() -> tuple[int, int, int, int]:
    """Entries of `_split_word`, `_token_terms`, `_ASCII_TERMS`, `_name_terms`."""
    return (
        _split_word.cache_info().currsize,
        _token_terms.cache_info().currsize,
        len(_ASCII_TERMS),
        _name_terms.cache_info().currsize,
    )


def term_cache_bytes() -> int:
    """About what the identifier-splitting caches hold, in bytes."""
    split_word, token_terms, ascii_terms, name_terms = term_cache_entries()
    return (
        split_word * _ENTRY_BYTES_SPLIT_WORD
        + token_terms * _ENTRY_BYTES_TOKEN_TERMS
        + ascii_terms * _ENTRY_BYTES_ASCII_TERMS
        + name_terms * _ENTRY_BYTES_NAME_TERMS
    )


def clear_term_caches() -> None:
    """Empty every identifier-splitting cache (results are unchanged)."""
    _token_terms.cache_clear()
    _split_word.cache_clear()
    _ASCII_TERMS.clear()
    _name_terms.cache_clear()


def name_terms(names: Iterable[str]) -> str:
    """Symbol names whole and split, for the ``names`` column."""
    return " ".join(map(_name_terms, names))


@lru_cache(maxsize=65536)
def _name_terms(name: str) -> str:
    # Cached: a file's names (and a tree's) repeat.
    parts = split_identifier(name)
    return " ".join([name, *parts]) if len(parts) > 1 else name


def words(text: str) -> list[str]:
    """Lower-cased words of free text, split at identifier boundaries too."""
    return split_identifier(text)


def _phrase(items: list[str]) -> str:
    """An FTS5 string literal; the tokenizer turns it into a phrase."""
    return '"' + " ".join(items).replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class PathFilter:
    """A path restriction: a glob, or a prefix (directory or file)."""

    pattern: str
    is_glob: bool

    @classmethod
    def parse(cls, text: str) -> PathFilter:
        """``src/`` and ``a.py`` are prefixes; anything with ``*?[`` a glob."""
        text = text.strip()
        while text.startswith("./"):
            text = text[2:]
        text = text.lstrip("/")  # workspace-relative either way
        return cls(text, any(c in _GLOB_CHARS for c in text))

    def sql(self, column: str) -> tuple[str, list[object]]:
        """A WHERE fragment on `column` and its parameters."""
        if self.is_glob:
            return f"{column} GLOB ?", [self.pattern]
        if self.pattern.endswith("/") or not self.pattern:
            return f"substr({column}, 1, ?) = ?", [len(self.pattern), self.pattern]
        prefix = self.pattern + "/"
        return (
            f"({column} = ? OR substr({column}, 1, ?) = ?)",
            [self.pattern, len(prefix), prefix],
        )


@dataclass(slots=True)
class ParsedQuery:
    """A user query taken apart: FTS5 expressions, words, and filters."""

    match_all: str | None = None  # every term must match (the normal query)
    match_any: str | None = None  # any term (fallback when `match_all` finds none)
    # A lone plain term of three characters or more, as typed: maybe the
    # start of an identifier (``NextEntryOff``), completed by ``search`` when
    # `match_all` finds too little.
    prefix: str | None = None
    exclusion: str = ""  # `` NOT (...)`` for the ``-excluded`` terms
    words: list[str] = field(default_factory=list)  # lower-cased positive words
    terms: list[str] = field(default_factory=list)  # positive terms as typed
    languages: list[str] = field(default_factory=list)
    paths: list[PathFilter] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def match_names(self, names: Iterable[str]) -> str | None:
        """An FTS5 expression for chunks with any of `names` (identifiers,
        each as spelled: ``NextEntryOffset`` one term, ``new_from_string`` a
        phrase), without the excluded terms; None without names."""
        phrases = [_phrase(tokens) for tokens in map(_WORD.findall, names) if tokens]
        if not phrases:
            return None
        return f"({' OR '.join(phrases)}){self.exclusion}"


_TOKEN = re.compile(r'-?"[^"]*"?|\S+')


def _term_expr(raw: str) -> str | None:
    """One user term as an FTS5 expression, or None if it has no words.

    A single compound identifier also matches its split form, so `parseFile`
    finds `parse_file` and vice versa: in the identifiers of the chunk
    (``terms``, ``names``), where every compound identifier is split, not in
    its prose (``"for class"`` for ``forClass``). Prose matches would be no
    answer to an identifier, and ranking them cost the most: bm25 is
    computed for every matching row, and a phrase of common words matches
    thousands.
    """
    tokens = _WORD.findall(raw)
    if not tokens:
        return None
    alternatives = [_phrase(tokens)]
    if len(tokens) == 1:
        parts = split_identifier(tokens[0])
        if len(parts) > 1:
            alternatives.append(_IDENTIFIER_COLUMNS + _phrase(parts))
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " OR ".join(alternatives) + ")"


def _filter(parsed: ParsedQuery, key: str, value: str, field_path: str) -> bool:
    """Apply a `key:value` filter; False if `key` is not a filter name.

    An empty value (``lang:`` while typing) is no filter rather than an error.
    """
    if key not in ("lang", "language", "path", "kind"):
        return False
    if not value:
        return True
    if key in ("lang", "language"):
        language = canonical_language(value)
        if language is None:
            raise invalid_params(f"unknown language {value!r}", field=field_path)
        parsed.languages.append(language)
    elif key == "path":
        parsed.paths.append(PathFilter.parse(value))
    else:
        kind = value.lower()
        if kind not in SYMBOL_KINDS and kind not in CHUNK_ONLY_KINDS:
            raise invalid_params(f"unknown kind {value!r}", field=field_path)
        parsed.kinds.append(kind)
    return True


def parse_query(query: str, field_path: str = "$.query") -> ParsedQuery:
    """Translate a user query into FTS5 MATCH strings and filters.

    :raises RpcError: invalid params for an unknown ``lang:`` or ``kind:``.
    """
    parsed = ParsedQuery()
    positive: list[str] = []
    negative: list[str] = []
    tokens = _TOKEN.findall(query)
    # A lone plain term may be the start of an identifier (`ParsedQuery.prefix`).
    last = next(
        (
            i
            for i in range(len(tokens) - 1, -1, -1)
            if not tokens[i].startswith(('"', "-")) and ":" not in tokens[i]
        ),
        None,
    )
    content = [
        t for t in tokens if t.lower() not in STOP_WORDS and not t.startswith("-")
    ]
    if len(content) > 1:
        last = None  # a question's last word is a whole word
    for index, token in enumerate(tokens):
        exclude = token.startswith("-") and len(token) > 1
        body = token[1:] if exclude else token
        if body.startswith('"'):
            raw = body.strip('"')
        else:
            key, sep, value = body.partition(":")
            if sep and not exclude and _filter(parsed, key.lower(), value, field_path):
                continue
            raw = body
        if content and not exclude and raw.lower() in STOP_WORDS:
            continue
        expr = _term_expr(raw)
        if expr is None:
            continue
        if exclude:
            negative.append(expr)
        else:
            positive.append(expr)
            if index == last and len(raw) >= _MIN_PREFIX:
                parsed.prefix = raw
            parsed.terms.append(raw)
            parsed.words.extend(split_identifier(raw))
    if positive:
        parsed.exclusion = f" NOT ({' OR '.join(negative)})" if negative else ""
        parsed.match_all = f"({' AND '.join(positive)}){parsed.exclusion}"
        if len(positive) > 1:
            parsed.match_any = f"({' OR '.join(positive)}){parsed.exclusion}"
    if len(positive) != 1:
        parsed.prefix = None
    return parsed
