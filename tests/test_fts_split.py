"""Identifier splitting at C speed gives what the per-character rule gave.

`reference_*` below are the implementations of ``daemon/store/fts.py`` before
#16 round 7 (a Python loop per character, no ASCII shortcut), kept here as
the specification: the index stores these words (FTS ``terms`` and ``names``
columns, symbol initials), so any difference would change every user's
index without an extractor version bump.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axd.daemon.index.derive import initials
from axd.daemon.store import fts

_REFERENCE_WORD = re.compile(r"[^\W_]+")
_REFERENCE_IDENTIFIER = re.compile(r"\w+")


def reference_split_word(word: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        prev, ch = word[i - 1], word[i]
        boundary = (
            prev.isdigit() != ch.isdigit()
            or (prev.islower() and ch.isupper())
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
    return parts


def reference_split_identifier(identifier: str) -> list[str]:
    parts: list[str] = []
    for word in _REFERENCE_WORD.findall(identifier):
        parts.extend(reference_split_word(word))
    return parts


def reference_compound_terms(text: str) -> str:
    terms = []
    for token in _REFERENCE_IDENTIFIER.findall(text):
        parts = reference_split_identifier(token)
        if len(parts) > 1:
            terms.append(" ".join(parts))
    return " ".join(terms)


def reference_name_terms(names: list[str]) -> str:
    out = []
    for name in names:
        parts = reference_split_identifier(name)
        out.append(" ".join([name, *parts]) if len(parts) > 1 else name)
    return " ".join(out)


# Characters where the rules could part ways: ASCII cases and digits, `_`,
# punctuation, non-ASCII letters of every case (titlecase ǅ, Turkish İ ı,
# German ß, Greek ς, Kelvin K, ſ whose lower/upper are ASCII letters),
# non-ASCII digits and numerics (٣ ² ½), marks, and spaces.
_TRICKY = "aAzZbBmMqQ09_5-. \t\n()$#:ǅǄǆİıßẞςΣσKſÅåÉéÜüǈǋ٣²½Ⅻⅻ𝟘𝐀𝐚ª\u0301ᾈ"
_ascii_identifiers = st.from_regex(r"\A[A-Za-z0-9_]{0,24}\Z")
_tricky_text = st.text(alphabet=_TRICKY, max_size=30)
_any_text = st.text(max_size=30)
_identifiers = st.one_of(_ascii_identifiers, _tricky_text, _any_text)


@settings(max_examples=3000, deadline=None)
@given(_identifiers)
def test_split_identifier_matches_the_reference(identifier: str) -> None:
    fts.clear_term_caches()
    assert fts.split_identifier(identifier) == reference_split_identifier(identifier)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_identifiers, max_size=8))
def test_compound_and_name_terms_match_the_reference(tokens: list[str]) -> None:
    text = " ".join(tokens)
    # Twice: the first call fills the caches, the second reads them.
    for _ in range(2):
        assert fts.compound_terms(text) == reference_compound_terms(text)
        assert fts.name_terms(tokens) == reference_name_terms(tokens)


@pytest.mark.parametrize(
    "identifier, words",
    [
        ("HTTPServer", ["http", "server"]),
        ("getHTTPResponseCode", ["get", "http", "response", "code"]),
        ("utf8Decode", ["utf", "8", "decode"]),
        ("ABc", ["a", "bc"]),
        ("aBC1d", ["a", "bc", "1", "d"]),
        ("A1b", ["a", "1", "b"]),
        ("İstanbulCity", ["i̇stanbul", "city"]),
        ("ǅemalBey", ["ǆemal", "bey"]),
        ("x2_Y", ["x", "2", "y"]),
    ],
)
def test_known_splits(identifier: str, words: list[str]) -> None:
    assert fts.split_identifier(identifier) == words
    assert fts.split_identifier(identifier) == reference_split_identifier(identifier)


def test_initials_follow_the_split() -> None:
    assert initials("getHTTPResponseCode") == "ghrc"
    assert initials("parse_file2") == "pf2"
