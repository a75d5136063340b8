"""Full-text search over cases and their clinical documents.

On PostgreSQL the search runs on the stored, weighted `search_vector` columns that migration
`cases/0002_full_text_search` adds to `cases_case` and `cases_document` (generated columns kept current
by the database, GIN-indexed, text search configuration `hpb_english` = english stemming + unaccent).
They are deliberately not Django model fields, because the SQLite demo has no such columns; the ORM
reaches them through `SearchVectorColumn`.

What a search means:

- the query uses web-search syntax, parsed by PostgreSQL's `websearch_to_tsquery('hpb_english', q)`:
  words are AND-ed, `"quoted phrases"` must appear in that order, `or` between words, `-word` excludes;
  it never raises a syntax error, whatever the text;
- a case matches when its own fields (title, focus, tags, clinical summary) match the whole query, or
  when at least one of its documents does (title, summary, full text);
- rank = ts_rank_cd over the case's vector + the best matching document's ts_rank_cd, with weights that
  make one title hit (A = 1.0) worth ten body hits (C = 0.1); ties go to the newest case;
- a query that leaves nothing to look for (stop words only, operators alone, or only exclusions) never
  matches (rather than matching everything); the search then refuses it (SearchQueryError, a 400 in the
  API) with a message saying which, so a researcher is not left with a silent empty list;
- snippets come from `ts_headline` over the best document's full text, else the case's clinical summary,
  else the document's summary, whichever actually contains a hit. The source text is HTML-escaped and
  only our own `<mark>` ... `</mark>` markers are markup, so a snippet can be inserted as HTML as is.

Cost: one query ranks the hits (GIN index scans, ts_rank_cd where each vector is read) and returns the
page's case summary rows with the total (a window count); for /api/v1/search a second query looks up
that page only: its matching documents and the expensive ts_headline snippets. The API's case list with
`q` needs only the first.

On other databases (the SQLite demo) the same functions degrade to a case-insensitive containment match,
unranked (newest first); see README "Search".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Expression, Q, QuerySet

from cases.models import Case, Document
from cases.services.reading import SUMMARY_FIELDS

MAX_QUERY_LENGTH = 500
SEARCH_CONFIG = "hpb_english"
# ts_rank_cd weights for D, C, B, A: a title (A) hit outweighs ten full-text (C) hits.
RANK_WEIGHTS = "{0.05, 0.1, 0.3, 1.0}"
# The same caps as the generated columns (migration 0002): headlines read what the index read.
FULL_TEXT_CHARS = 200_000
SUMMARY_CHARS = 50_000

MARK_START = "<mark>"
MARK_STOP = "</mark>"
# ts_headline inserts these private-use characters around hits; they are stripped from the source text
# first, so after HTML-escaping the headline they can only be ours and become MARK_START / MARK_STOP.
_SENTINEL_START = "\ue000"
_SENTINEL_STOP = "\ue001"
HEADLINE_OPTIONS = (
    f"StartSel={_SENTINEL_START}, StopSel={_SENTINEL_STOP}, MaxWords=35, MinWords=15, ShortWord=3, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_WHITESPACE = re.compile(r"\s+")
# websearch_to_tsquery nests one NOT per minus sign, even across spaces and punctuation ("- - -x"), and
# more than 32 nested operators overflow its parser ("tsquery stack too small"): a run counts as one.
_MINUS_RUN = re.compile(r'-(?:[^\w"]*-)+')


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


def websearch_text(query: str) -> str:
    """The text handed to websearch_to_tsquery: the query with each run of minus signs made one."""
    return _MINUS_RUN.sub("-", query)


def search(*, query: str, cases: QuerySet[Case], limit: int, offset: int = 0, matches: bool = True) -> SearchPage:
    """Search the cases of `cases` (the ones the caller may see) and their documents; one page, ranked.

    `cases` carries the visibility rules (and any other filter); its ordering, `values()` and deferred
    fields are ignored. Each result's `case` is the summary row (`cases.services.reading.SUMMARY_FIELDS`).
    With `matches=False` (the case list) the matching documents and snippets are not looked up, and the
    page is one query. Raises SearchQueryError for a query that cannot be searched (see `clean_query`).
    """
    query = clean_query(query)
    if limit <= 0 or offset < 0:
        raise ValueError("limit must be positive and offset not negative")
    connection = connections[cases.db]
    if connection.vendor == "postgresql":
        return _search_postgresql(
            connection, query=websearch_text(query), cases=cases, limit=limit, offset=offset, matches=matches
        )
    return _search_containment(query=query, cases=cases, limit=limit, offset=offset, matches=matches)


# --- ORM access to the stored vectors (admin, filters) ----------------------------------------------


class SearchVectorColumn(Expression):
    """The stored `search_vector` column of the compiled query's own table (cases_case or cases_document).

    Not a model field (see the module docstring); this expression lets querysets filter on it, e.g.
    `Document.objects.alias(v=SearchVectorColumn()).filter(v=websearch_query(q))`.
    """

    output_field = SearchVectorField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.{connection.ops.quote_name('search_vector')}", []


def websearch_query(query: str) -> SearchQuery:
    return SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)


def filter_documents(queryset: QuerySet[Document], *, query: str) -> QuerySet[Document]:
    """Documents matching `query` (unranked; for the admin). Containment on SQLite."""
    query = clean_query(query)
    if connections[queryset.db].vendor != "postgresql":
        return _containment_filter_documents(queryset, query)
    query = websearch_text(query)
    if not _has_terms(queryset.db, query):
        return queryset.none()
    return queryset.alias(search_vector=SearchVectorColumn()).filter(search_vector=websearch_query(query))


def filter_cases(queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
    """Cases whose own fields or one of whose documents match `query` (unranked; for the admin)."""
    query = clean_query(query)
    if connections[queryset.db].vendor != "postgresql":
        return _containment_filter_cases(queryset, query)
    query = websearch_text(query)
    if not _has_terms(queryset.db, query):
        return queryset.none()
    matching_documents = (
        Document.objects.using(queryset.db)
        .alias(search_vector=SearchVectorColumn())
        .filter(search_vector=websearch_query(query))
    )
    own_hits = Case.objects.using(queryset.db).alias(search_vector=SearchVectorColumn())
    own_hits = own_hits.filter(search_vector=websearch_query(query)).values("pk")
    return queryset.filter(Q(pk__in=own_hits) | Q(pk__in=matching_documents.values("cases")))


def _has_terms(alias: str, query: str) -> bool:
    """Whether the parsed query has something to look for (not empty, not exclusions only)."""
    with connections[alias].cursor() as cursor:
        return _nothing_to_look_for(cursor, query) is None


# --- PostgreSQL ---------------------------------------------------------------------------------------

# websearch_to_tsquery is immutable: with a literal argument PostgreSQL folds it into a constant at plan
# time, so repeating it costs nothing and lets the planner see the tsquery (GIN index, one-time filters).
_TSQUERY = f"websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"
_WEIGHTS = f"'{RANK_WEIGHTS}'::float4[]"
# querytree() is '' for an empty query and 'T' when nothing is indexable (exclusions only): no match.
_HAS_TERMS = f"querytree({_TSQUERY}) NOT IN ('', 'T')"

_HITS_SQL = f"""
FROM (
    SELECT coalesce(case_hits.case_id, document_hits.case_id) AS case_id,
           coalesce(case_hits.rank, 0) + coalesce(document_hits.rank, 0) AS rank
    FROM (
        SELECT c.id AS case_id, ts_rank_cd({_WEIGHTS}, c.search_vector, {_TSQUERY}) AS rank
        FROM cases_case c
        WHERE c.search_vector @@ {_TSQUERY} AND {_HAS_TERMS}
        OFFSET 0
    ) case_hits
    FULL JOIN (
        SELECT l.case_id, max(ranked.rank) AS rank
        FROM (
            SELECT d.id, ts_rank_cd({_WEIGHTS}, d.search_vector, {_TSQUERY}) AS rank
            FROM cases_document d
            WHERE d.search_vector @@ {_TSQUERY} AND {_HAS_TERMS}
            OFFSET 0
        ) ranked
        JOIN cases_document_cases l ON l.document_id = ranked.id
        GROUP BY l.case_id
    ) document_hits ON document_hits.case_id = case_hits.case_id
) hits
JOIN <visible> c ON c.id = hits.case_id
"""  # noqa: S608 - built from constants; user text only ever travels as a parameter
# OFFSET 0 keeps each subquery from being flattened, so ts_rank_cd runs in the scan that reads the vector
# and only (id, rank) pairs flow through the joins, not the ~2 KB vectors themselves.
_HITS_PARAM_COUNT = 6  # the %s of _TSQUERY above, in order

# The page: ranked case ids with the total (a window count over all hits), then the page's summary rows.
_SUMMARY_COLUMNS = ", ".join(f"summary.{Case._meta.get_field(name).column}" for name in SUMMARY_FIELDS)
_RANKED_SQL = f"""
SELECT page.rank, page.total, {_SUMMARY_COLUMNS}
FROM (
    SELECT c.id, c.created_at, hits.rank, count(*) OVER () AS total
    {_HITS_SQL}
    ORDER BY hits.rank DESC, c.created_at DESC, c.id DESC
    LIMIT %s OFFSET %s
) page
JOIN cases_case summary ON summary.id = page.id
ORDER BY page.rank DESC, page.created_at DESC, page.id DESC
"""  # noqa: S608 - built from constants; user text only ever travels as a parameter
_COUNT_SQL = f"SELECT count(*) {_HITS_SQL}"  # noqa: S608


def _headline(text_sql: str, chars: int) -> str:
    strip = f"translate(left({text_sql}, {chars}), '{_SENTINEL_START}{_SENTINEL_STOP}', '')"
    return f"ts_headline('{SEARCH_CONFIG}'::regconfig, {strip}, {_TSQUERY}, '{HEADLINE_OPTIONS}')"


# The page's matching documents (best first) and snippets; ts_headline is the expensive part, hence
# only for the page. Placeholders: 3 headlines, the page's case ids, then the lateral's 2.
_MATCHES_SQL = f"""
SELECT c.id,
       documents.ids,
       documents.titles,
       {_headline("best.full_text", FULL_TEXT_CHARS)} AS text_snippet,
       {_headline("c.clinical_summary", FULL_TEXT_CHARS)} AS case_snippet,
       {_headline("best.summary", SUMMARY_CHARS)} AS summary_snippet
FROM cases_case c
LEFT JOIN LATERAL (
    SELECT array_agg(m.id ORDER BY m.rank DESC, m.id) AS ids,
           array_agg(m.title ORDER BY m.rank DESC, m.id) AS titles
    FROM (
        SELECT d.id, d.title, ts_rank_cd({_WEIGHTS}, d.search_vector, {_TSQUERY}) AS rank
        FROM cases_document_cases l
        JOIN cases_document d ON d.id = l.document_id
        WHERE l.case_id = c.id AND d.search_vector @@ {_TSQUERY}
    ) m
) documents ON TRUE
LEFT JOIN cases_document best ON best.id = documents.ids[1]
WHERE c.id = ANY(%s::bigint[])
"""  # noqa: S608 - built from constants; user text only ever travels as a parameter
_MATCHES_PARAM_COUNT = 5


def _visible_cases_sql(cases: QuerySet[Case]) -> tuple[str, tuple]:
    """The caller's queryset as the relation the hits join (`c`, with id and created_at).

    A queryset of plain filters on cases_case becomes `(SELECT id, created_at FROM cases_case WHERE ...)`
    from its compiled WHERE alone (compiling the whole queryset costs more than a cheap search), which
    PostgreSQL folds into a single scan or index lookup. Anything fancier (joins that could repeat a case,
    annotations, DISTINCT) is applied as `id IN (<the queryset>)`.
    """
    if cases.model is not Case:
        raise TypeError("search() needs a queryset of Case")
    query = cases.query
    if query.is_sliced:
        raise TypeError("search() needs an unsliced queryset")
    if not query.where:
        return "cases_case", ()
    try:
        if len(query.alias_map) <= 1 and not query.annotations and not query.distinct and not query.combinator:
            where_sql, where_params = query.get_compiler(using=cases.db).compile(query.where)
        else:
            subquery_sql, where_params = cases.order_by().values("id").query.sql_with_params()
            where_sql = f"id IN ({subquery_sql})"
    except EmptyResultSet:  # e.g. Case.objects.none()
        where_sql, where_params = "FALSE", ()
    except FullResultSet:  # a filter that keeps every case
        return "cases_case", ()
    return f"(SELECT id, created_at FROM cases_case WHERE {where_sql})", tuple(where_params)  # noqa: S608


def ranked_query_sql(*, query: str, cases: QuerySet[Case], limit: int, offset: int) -> tuple[str, tuple]:
    """The ranked query's SQL and parameters (exposed for the benchmark and EXPLAIN tests)."""
    query = websearch_text(query)
    visible_sql, visible_params = _visible_cases_sql(cases)
    return (
        _RANKED_SQL.replace("<visible>", visible_sql),
        (query,) * _HITS_PARAM_COUNT + visible_params + (limit, offset),
    )


def _search_postgresql(
    connection: Any, *, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool
) -> SearchPage:
    sql, params = ranked_query_sql(query=query, cases=cases, limit=limit, offset=offset)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ranked = cursor.fetchall()
        if not ranked and (refusal := _nothing_to_look_for(cursor, query)):
            raise SearchQueryError(refusal)
        if ranked:
            total = ranked[0][1]
        elif offset == 0:
            total = 0
        else:  # past the end: the window count came back with no row, so count on its own
            visible_sql, visible_params = _visible_cases_sql(cases)
            cursor.execute(_COUNT_SQL.replace("<visible>", visible_sql), (query,) * _HITS_PARAM_COUNT + visible_params)
            total = cursor.fetchone()[0]
        found: dict[int, tuple] = {}
        if ranked and matches:
            cursor.execute(_MATCHES_SQL, (query,) * _MATCHES_PARAM_COUNT + ([row[2] for row in ranked],))
            found = {row[0]: row[1:] for row in cursor.fetchall()}
    convert = _summary_converter(connection)
    results = []
    for row in ranked:
        case = convert(row[2:])
        documents: tuple[MatchedDocument, ...] = ()
        snippet = ""
        if matches:
            ids, titles, text_snippet, case_snippet, summary_snippet = found[case["id"]]
            documents = tuple(MatchedDocument(id=i, title=t) for i, t in zip(ids or (), titles or (), strict=True))
            snippet = _pick_snippet(text_snippet, case_snippet, summary_snippet)
        results.append(SearchResult(case=case, rank=float(row[0]), documents=documents, snippet=snippet))
    return SearchPage(total=total, results=results)


NO_WORDS = (
    "The search query has no word to look for: very common words (the, of, and ...), a lone `or` and "
    "punctuation are not indexed. Add a specific word, as in: portal vein."
)
ONLY_EXCLUSIONS = (
    "The search query only says what to leave out (-word). Add a word to look for, as in: liver -cirrhosis "
    "(with `or`, every alternative needs one)."
)


def _nothing_to_look_for(cursor: Any, query: str) -> str | None:
    """Why an empty page is empty when the query itself could never match (None when it could).

    The search asks only after an empty page, so a search that finds something never pays for it (the
    admin's filters ask first). querytree() is '' when no word survived parsing (stop words, operators
    alone) and 'T' when what is left can only exclude (`-liver`, `liver or -tumour`), which the index
    cannot look up and `_HAS_TERMS` never matches.
    """
    cursor.execute(f"SELECT querytree({_TSQUERY})", [query])
    return {"": NO_WORDS, "T": ONLY_EXCLUSIONS}.get(cursor.fetchone()[0])


def _summary_converter(connection: Any) -> Any:
    """Turns the summary columns of a raw row into the summary dict (jsonb tags arrive as text)."""
    chains = []
    for index, name in enumerate(SUMMARY_FIELDS):
        field = Case._meta.get_field(name)
        expression = field.get_col(Case._meta.db_table)
        found = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        if found:
            chains.append((index, [(converter, expression) for converter in found]))

    def convert(values: tuple) -> dict[str, Any]:
        values = list(values)
        for index, chain in chains:
            for converter, expression in chain:
                values[index] = converter(values[index], expression, connection)
        return dict(zip(SUMMARY_FIELDS, values, strict=True))

    return convert


def _pick_snippet(*headlines: str | None) -> str:
    """The first headline that highlights a hit (else the first non-empty one), made HTML-safe."""
    present = [h for h in headlines if h and h.strip()]
    chosen = next((h for h in present if _SENTINEL_START in h), present[0] if present else "")
    return render_headline(chosen)


def render_headline(headline: str) -> str:
    """Escape a ts_headline result and turn the sentinel characters into <mark> ... </mark>."""
    escaped = html.escape(_WHITESPACE.sub(" ", headline).strip(), quote=True)
    return escaped.replace(_SENTINEL_START, MARK_START).replace(_SENTINEL_STOP, MARK_STOP)


# --- Containment fallback (SQLite) ----------------------------------------------------------------------

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_EXCERPT_CHARS = 240


def parse_containment_terms(query: str) -> tuple[list[str], list[str]]:
    """(wanted, excluded) strings for the fallback: `"phrases"` whole, `-term` excluded, `or` ignored."""
    wanted: list[str] = []
    excluded: list[str] = []
    for match in _TOKEN.finditer(query):
        negated, phrase, word = match.groups()
        if word is not None:
            negated = "-" if word.startswith("-") else ""
            term = word.lstrip("-")
            if term.lower() == "or":
                continue
        else:
            term = phrase
        term = " ".join(term.split())
        if term:
            (excluded if negated else wanted).append(term)
    return wanted, excluded


def _containment_case_q(term: str) -> Q:
    documents = Document.objects.filter(_containment_document_q(term)).values("cases")
    return (
        Q(title__icontains=term)
        | Q(focus__icontains=term)
        | Q(clinical_summary__icontains=term)
        | Q(tags__icontains=term)
        | Q(pk__in=documents)
    )


def _containment_document_q(term: str) -> Q:
    return Q(title__icontains=term) | Q(summary__icontains=term) | Q(full_text__icontains=term)


def _containment_filter_cases(queryset: QuerySet[Case], query: str) -> QuerySet[Case]:
    wanted, excluded = parse_containment_terms(query)
    if not wanted:
        return queryset.none()
    for term in wanted:
        queryset = queryset.filter(_containment_case_q(term))
    for term in excluded:
        queryset = queryset.exclude(_containment_case_q(term))
    return queryset


def _containment_filter_documents(queryset: QuerySet[Document], query: str) -> QuerySet[Document]:
    wanted, excluded = parse_containment_terms(query)
    if not wanted:
        return queryset.none()
    for term in wanted:
        queryset = queryset.filter(_containment_document_q(term))
    for term in excluded:
        queryset = queryset.exclude(_containment_document_q(term))
    return queryset


def _search_containment(*, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool) -> SearchPage:
    wanted, _excluded = parse_containment_terms(query)
    base = Case.objects.using(cases.db).filter(pk__in=cases.order_by().values("pk"))
    matching = _containment_filter_cases(base, query)
    total = matching.count()
    page = list(
        matching.order_by("-created_at", "-id").values(*SUMMARY_FIELDS, "clinical_summary")[offset : offset + limit]
    )
    if not page or not matches:
        return SearchPage(
            total=total,
            results=[
                SearchResult(case={f: row[f] for f in SUMMARY_FIELDS}, rank=0.0, documents=(), snippet="")
                for row in page
            ],
        )
    any_term = Q()
    for term in wanted:
        any_term |= _containment_document_q(term)
    documents: dict[int, list[dict]] = {}
    rows = (
        Document.objects.using(cases.db)
        .filter(any_term, cases__in=[row["id"] for row in page])
        .order_by("-created_at", "-id")
        .values("id", "title", "summary", "full_text", "cases")
    )
    for row in rows:
        documents.setdefault(row["cases"], []).append(row)
    results = []
    for row in page:
        found = documents.get(row["id"], [])
        texts = [found[0]["full_text"]] if found else []
        texts.append(row["clinical_summary"])
        if found:
            texts.append(found[0]["summary"])
        results.append(
            SearchResult(
                case={f: row[f] for f in SUMMARY_FIELDS},
                rank=0.0,
                documents=tuple(MatchedDocument(id=d["id"], title=d["title"]) for d in found),
                snippet=_containment_excerpt(texts, wanted),
            )
        )
    return SearchPage(total=total, results=results)


def _containment_excerpt(texts: list[str], terms: list[str]) -> str:
    """An escaped window of the first text containing a term, with every term wrapped in <mark>."""
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    for text in texts:
        match = pattern.search(text or "")
        if match:
            break
    else:
        text = next((t for t in texts if t), "")
        match = None
    start = max(0, match.start() - _EXCERPT_CHARS // 3) if match else 0
    end = min(len(text), start + _EXCERPT_CHARS)
    window = text[start:end]
    parts = ["… " if start else ""]
    last = 0
    for hit in pattern.finditer(window):
        parts.append(html.escape(window[last : hit.start()]))
        parts.append(f"{MARK_START}{html.escape(hit.group())}{MARK_STOP}")
        last = hit.end()
    parts.append(html.escape(window[last:]))
    parts.append(" …" if end < len(text) else "")
    return _WHITESPACE.sub(" ", "".join(parts)).strip()
