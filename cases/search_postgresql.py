"""Full-text search on PostgreSQL: the stored, weighted `search_vector` columns, ranked (see cases.fulltext).

The columns are added by migration `cases/0002_full_text_search` to `cases_case` and `cases_document`
(generated columns kept current by the database, GIN-indexed, text search configuration `hpb_english` =
english stemming + unaccent). They are deliberately not Django model fields, because the SQLite demo has
no such columns; the ORM reaches them through `SearchVectorColumn`.

Cost: one query ranks the hits (GIN index scans, ts_rank_cd where each vector is read) and returns the
page's case summary rows with the total (a window count); for /api/v1/search a second query looks up
that page only: its matching documents and the expensive ts_headline snippets. The API's case list with
`q` needs only the first.
"""

from __future__ import annotations

import html
import re
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Expression, Q, QuerySet

from cases.models import Case, Document
from cases.search_types import (
    MARK_START,
    MARK_STOP,
    NO_WORDS,
    ONLY_EXCLUSIONS,
    MatchedDocument,
    SearchPage,
    SearchQueryError,
    SearchResult,
)
from cases.services.reading import SUMMARY_FIELDS, column, concrete_field

SEARCH_CONFIG = "hpb_english"
# ts_rank_cd weights for D, C, B, A: a title (A) hit outweighs ten full-text (C) hits.
RANK_WEIGHTS = "{0.05, 0.1, 0.3, 1.0}"
# The same caps as the generated columns (migration 0002): headlines read what the index read.
FULL_TEXT_CHARS = 200_000
SUMMARY_CHARS = 50_000

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


class PostgreSQLSearch:
    """websearch_to_tsquery over the stored vectors, ranked by ts_rank_cd, snippets by ts_headline."""

    indexed = True

    def search(self, *, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool) -> SearchPage:
        return _search(
            connections[cases.db], query=websearch_text(query), cases=cases, limit=limit, offset=offset, matches=matches
        )

    def has_terms(self, query: str, *, using: str) -> bool:
        """Whether the parsed query has something to look for (not empty, not exclusions only)."""
        with connections[using].cursor() as cursor:
            return _nothing_to_look_for(cursor, websearch_text(query)) is None

    def filter_documents(self, queryset: QuerySet[Document], *, query: str) -> QuerySet[Document]:
        if not self.has_terms(query, using=queryset.db):
            return queryset.none()
        query = websearch_text(query)
        return queryset.alias(search_vector=SearchVectorColumn()).filter(search_vector=websearch_query(query))

    def filter_cases(self, queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
        if not self.has_terms(query, using=queryset.db):
            return queryset.none()
        query = websearch_text(query)
        matching_documents = (
            Document.objects.using(queryset.db)
            .alias(search_vector=SearchVectorColumn())
            .filter(search_vector=websearch_query(query))
        )
        own_hits = (
            Case.objects.using(queryset.db)
            .alias(search_vector=SearchVectorColumn())
            .filter(search_vector=websearch_query(query))
        )
        return queryset.filter(Q(pk__in=own_hits.values("pk")) | Q(pk__in=matching_documents.values("cases")))


def websearch_text(query: str) -> str:
    """The text handed to websearch_to_tsquery: the query with each run of minus signs made one."""
    return _MINUS_RUN.sub("-", query)


def websearch_query(query: str) -> SearchQuery:
    return SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)


# --- ORM access to the stored vectors (admin filters) ------------------------------------------------


class SearchVectorColumn(Expression):
    """The stored `search_vector` column of the compiled query's own table (cases_case or cases_document).

    Not a model field (see the module docstring); this expression lets querysets filter on it, e.g.
    `Document.objects.alias(v=SearchVectorColumn()).filter(v=websearch_query(q))`.
    """

    output_field = SearchVectorField()

    # A list, not the tuple the stubs (Django 6) declare: Django 5.2's SearchVectorExact adds lhs + rhs params.
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[str | int]]:  # type: ignore[override]
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.{connection.ops.quote_name('search_vector')}", []


# --- Raw SQL of the ranked search -------------------------------------------------------------------

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
_SUMMARY_COLUMNS = ", ".join(f"summary.{column(Case, name)}" for name in SUMMARY_FIELDS)
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


def _search(
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
        field = concrete_field(Case, name)
        expression = field.get_col(Case._meta.db_table)
        found = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        if found:
            chains.append((index, [(converter, expression) for converter in found]))

    def convert(row: tuple[Any, ...]) -> dict[str, Any]:
        values = list(row)
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
