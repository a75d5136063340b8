"""What every search backend shares: the query's validation, the refusals, and the shape of an answer.

A backend (`cases.search_backends`) may differ in how it finds and ranks, never in which texts it
refuses with which message, nor in what a page of results looks like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_QUERY_LENGTH = 500

MARK_START = "<mark>"
MARK_STOP = "</mark>"

NO_WORDS = (
    "The search query has no word to look for: very common words (the, of, and ...), a lone `or` and "
    "punctuation are not indexed. Add a specific word, as in: portal vein."
)
ONLY_EXCLUSIONS = (
    "The search query only says what to leave out (-word). Add a word to look for, as in: liver -cirrhosis "
    "(with `or`, every alternative needs one)."
)


class SearchQueryError(ValueError):
    """The query text cannot be searched; the message is meant for the person who typed it."""


@dataclass(frozen=True, slots=True)
class MatchedDocument:
    id: int
    title: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    case: dict[str, Any]  # the case summary row, keys cases.services.reading.SUMMARY_FIELDS
    rank: float
    documents: tuple[MatchedDocument, ...]
    snippet: str  # HTML-safe: escaped text with <mark>...</mark> around the hits


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    results: list[SearchResult]


def clean_query(raw: str | None) -> str:
    """The stripped query, or SearchQueryError with a message saying what is wrong with it."""
    if raw is None:
        raise SearchQueryError("Give a search query in the q parameter.")
    if len(raw) > MAX_QUERY_LENGTH:
        raise SearchQueryError(
            f"The search query is {len(raw)} characters long; at most {MAX_QUERY_LENGTH} are allowed."
        )
    if "\x00" in raw:
        # PostgreSQL text cannot hold NUL, and no one means to search for it.
        raise SearchQueryError("The search query contains a NUL character.")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise SearchQueryError("The search query is not valid Unicode text.") from None
    query = raw.strip()
    if not query:
        raise SearchQueryError("The search query is empty.")
    return query
