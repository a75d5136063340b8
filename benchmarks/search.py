"""Full-text search benchmark: the search service against the same SQL run raw through psycopg.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hpb .venv/bin/python benchmarks/search.py [--keep]

1. Creates its own database (`hpb_search_bench` on the server of DATABASE_URL; dropped first if left over)
   and runs the migrations.
2. Loads synthetic HPB text with COPY: 100,000 documents of about 2 KB attached to 25,000 cases (one in
   ten documents shared by a second case) of 5,000 patients; 90% of the cases published. The generated
   search columns are computed by PostgreSQL during the COPY; the GIN indexes are rebuilt after the load
   (the same index a live system ends up with, built faster). Then VACUUM ANALYZE.
3. For each query of a fixed set (common, rare, phrases, or, exclusions, stemming, accents, nothing to find),
   runs `cases.fulltext.search` as the API does for a non-staff user (published cases, page of 25; as
   /api/v1/search, and for two queries as /api/v1/cases?q=, without documents and snippets) and, in
   the same loop, the exact SQL statements the service sent (captured from Django, parameters inlined by
   psycopg as Django sends them) through a plain psycopg connection (planned at every run, as Django's
   are), and prints p50/p95 of both and the
   ratio. The service's overhead is what the ratio shows; the target is at most 1.5x.
4. Drops the database unless --keep.

No test asserts these times; the figures are for people.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.hpb_corpus import Corpus  # noqa: E402 - after the path set-up


class Query(NamedTuple):
    label: str
    text: str
    offset: int = 0
    matches: bool = True  # False: as /api/v1/cases?q=, without documents and snippets


QUERIES = [
    Query("common term", "liver"),
    Query("common term, page 3", "liver", 50),
    Query("frequent term", "hepatectomy"),
    Query("medium term", "cholangiocarcinoma"),
    Query("rare term", "mirizzi"),
    Query("rare term (title-weighted)", "klatskin"),
    Query("stemming", "resected"),
    Query("accents", "hepatico-jejunostomie"),
    Query("phrase", '"portal vein embolisation"'),
    Query("rare phrase", '"Caroli disease"'),
    Query("and", "segment VII recurrence"),
    Query("or", "whipple or pancreaticoduodenectomy"),
    Query("exclusion", "pancreatectomy -splenectomy"),
    Query("rare or rare", "mirizzi or caroli"),
    Query("no match", "xanthogranulomatous"),
    Query("stop words only (refused)", "the of and"),
    Query("exclusion only (refused)", "-liver"),
    Query("case list ?q= (no snippets)", "liver", 0, False),
    Query("case list ?q=, rare", "mirizzi", 0, False),
]
PAGE_SIZE = 25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=25_000)
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query (after 3 warm-up runs)")
    parser.add_argument("--database", default="hpb_search_bench")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database instead of loading anew")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def server_urls(database: str) -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hpb")
    parts = urlsplit(base)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit("DATABASE_URL must point at a PostgreSQL server.")
    return urlunsplit(parts._replace(path="/postgres")), urlunsplit(parts._replace(path=f"/{database}"))


def recreate_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    import django

    django.setup()


def load(url: str, *, documents: int, cases: int, patients: int) -> None:
    corpus = Corpus()
    epoch = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DROP INDEX cases_document_search_gin")
        conn.execute("DROP INDEX cases_case_search_gin")
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY cases_patient (id, mrn, first_name, last_name, sex, notes, created_at, updated_at) FROM STDIN"
            ) as copy:
                for n in range(1, patients + 1):
                    copy.write_row((n, f"SYN-{n:07d}", "Synthetic", f"Patient{n}", "unknown", "", epoch, epoch))
            with cursor.copy(
                "COPY cases_case (id, patient_id, slug, title, focus, specialty, clinical_summary, tags, status,"
                " lightweight, created_at, updated_at) FROM STDIN"
            ) as copy:
                for n in range(1, cases + 1):
                    case = corpus.case(n)
                    status = "published" if n % 10 else ("draft" if n % 20 else "archived")
                    created = epoch + dt.timedelta(minutes=37 * n)
                    copy.write_row(
                        (
                            n,
                            1 + n % patients,
                            f"case-{n}",
                            case.title[:200],
                            case.focus[:200],
                            "HPB",
                            case.clinical_summary,
                            json.dumps(case.tags),
                            status,
                            n % 3 == 0,
                            created,
                            created,
                        )
                    )
            print(f"  {patients:,} patients and {cases:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
            with cursor.copy(
                "COPY cases_document (id, slug, title, summary, mime_type, storage_uri, metadata, full_text,"
                " created_at) FROM STDIN"
            ) as copy:
                for n in range(1, documents + 1):
                    document = corpus.document(n)
                    copy.write_row(
                        (
                            n,
                            f"document-{n}",
                            document.title[:200],
                            document.summary,
                            "text/plain",
                            f"storage://documents/bench/{n}.txt",
                            "{}",
                            document.full_text,
                            epoch + dt.timedelta(minutes=9 * n),
                        )
                    )
                    if n % 20_000 == 0:
                        print(f"  {n:,} documents, {time.perf_counter() - started:.0f} s", flush=True)
            with cursor.copy("COPY cases_document_cases (document_id, case_id) FROM STDIN") as copy:
                for n in range(1, documents + 1):
                    first = 1 + (n * 7919) % cases
                    copy.write_row((n, first))
                    if n % 10 == 0:
                        copy.write_row((n, 1 + (first + cases // 2) % cases))
        for table in ("cases_patient", "cases_case", "cases_document", "cases_document_cases"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        print(f"  loaded in {time.perf_counter() - started:.1f} s; building GIN indexes", flush=True)
        conn.execute("CREATE INDEX cases_document_search_gin ON cases_document USING gin (search_vector)")
        conn.execute("CREATE INDEX cases_case_search_gin ON cases_case USING gin (search_vector)")
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        assert row is not None, "an aggregate returns one row"
        size = row[0]
        print(f"  indexed, vacuumed and analysed at {time.perf_counter() - started:.1f} s; database {size}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_queries(url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases import fulltext
    from cases.models import Case

    visible = _visible_cases(Case)
    # prepare_threshold=None: like Django, plan every execution. psycopg would otherwise prepare a statement
    # run five times and skip planning from then on, which this loop (the same text 30 times) would enjoy
    # but real searches (a different text each time) would not.
    raw = psycopg.connect(url, autocommit=True, prepare_threshold=None)
    connection.ensure_connection()
    report: dict = {"queries": [], "repeat": repeat}
    all_service: list[float] = []
    all_raw: list[float] = []
    header = f"{'query':<32} {'hits':>7} {'service p50':>12} {'p95':>8} {'raw p50':>9} {'p95':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for label, text, offset, matches in QUERIES:

        def service(text: str = text, offset: int = offset, matches: bool = matches) -> fulltext.SearchPage:
            try:
                return fulltext.search(query=text, cases=visible, limit=PAGE_SIZE, offset=offset, matches=matches)
            except fulltext.SearchQueryError:  # nothing to look for: the API's 400, after the same SQL
                return fulltext.SearchPage(total=0, results=[])

        with CaptureQueriesContext(connection) as captured:
            page = service()
        statements = [query["sql"] for query in captured.captured_queries]

        def raw_run(statements: list[str] = statements) -> None:
            with raw.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                    cursor.fetchall()

        for _ in range(3):
            service()
            raw_run()
        service_times: list[float] = []
        raw_times: list[float] = []
        for iteration in range(repeat):
            order = (service, raw_run) if iteration % 2 == 0 else (raw_run, service)
            for function in order:
                started = time.perf_counter()
                function()
                elapsed = (time.perf_counter() - started) * 1000
                (service_times if function is service else raw_times).append(elapsed)
        all_service += service_times
        all_raw += raw_times
        service_p50, raw_p50 = statistics.median(service_times), statistics.median(raw_times)
        figures: dict[str, Any] = {
            "label": label,
            "query": text,
            "offset": offset,
            "hits": page.total,
            "statements": len(statements),
            "service_p50_ms": service_p50,
            "service_p95_ms": percentile(service_times, 0.95),
            "raw_p50_ms": raw_p50,
            "raw_p95_ms": percentile(raw_times, 0.95),
            "ratio_p50": service_p50 / raw_p50,
        }
        report["queries"].append(figures)
        print(
            f"{label:<32} {page.total:>7,} {figures['service_p50_ms']:>10.2f}ms {figures['service_p95_ms']:>6.2f}ms"
            f" {figures['raw_p50_ms']:>7.2f}ms {figures['raw_p95_ms']:>6.2f}ms {figures['ratio_p50']:>5.2f}x",
            flush=True,
        )
    raw.close()
    report["overall"] = {
        "service_p50_ms": statistics.median(all_service),
        "service_p95_ms": percentile(all_service, 0.95),
        "raw_p50_ms": statistics.median(all_raw),
        "raw_p95_ms": percentile(all_raw, 0.95),
        "ratio_of_totals": sum(all_service) / sum(all_raw),
        "worst_query_ratio_p50": max(q["ratio_p50"] for q in report["queries"]),
    }
    overall = report["overall"]
    print("-" * len(header))
    print(
        f"{'overall':<32} {'':>7} {overall['service_p50_ms']:>10.2f}ms {overall['service_p95_ms']:>6.2f}ms"
        f" {overall['raw_p50_ms']:>7.2f}ms {overall['raw_p95_ms']:>6.2f}ms {overall['ratio_of_totals']:>5.2f}x"
    )
    print(
        f"service / raw SQL: {overall['ratio_of_totals']:.2f}x over all runs, worst query p50"
        f" {overall['worst_query_ratio_p50']:.2f}x (target: at most 1.5x)"
    )
    return report


def _visible_cases(case_model):
    """What a non-staff researcher may search, by the API's own visibility rule."""
    from cases.services.access import visible_cases

    class Researcher:
        is_authenticated = True
        is_staff = False

    return visible_cases(user=Researcher(), lightweight=False)


def main() -> None:
    args = parse_args()
    admin_url, url = server_urls(args.database)
    print(f"Search benchmark on database {args.database!r}")
    if not args.reuse:
        recreate_database(admin_url, args.database)
    setup_django(url)
    try:
        if not args.reuse:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            print(f"Loading {args.documents:,} documents for {args.cases:,} cases")
            load(url, documents=args.documents, cases=args.cases, patients=args.patients)
        report = run_queries(url, args.repeat)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(admin_url, args.database)
            print(f"Dropped {args.database!r} (use --keep to keep it).")


if __name__ == "__main__":
    main()
