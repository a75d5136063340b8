"""Full-text search: the `hpb_english` configuration and stored, weighted tsvectors with GIN indexes.

PostgreSQL only. `make run` uses SQLite, where every operation below is a no-op and search degrades to a
containment match (`cases.fulltext`); the columns are therefore not Django model fields (the model state
does not change, so `makemigrations --check` stays clean on both backends).

Text search configuration: `hpb_english`, a copy of the built-in `english` configuration with the
`unaccent` dictionary in front of the Snowball english stemmer for every word token type:

- english stemming makes "resected", "resection" and "resecting" one lexeme (`resect`), "tumours" match
  "tumour", "veins" match "vein"; the english stop words ("the", "of", "with") are dropped;
- `unaccent` first folds accents ("hépatico-jéjunostomie" = "hepatico-jejunostomie", "Klätskin" =
  "Klatskin"), and the parser lower-cases, so neither accents nor case matter;
- tokens with digits ("CA19-9", "T2N0", "segment4b") keep the `simple` dictionary (no stemming, which would
  mangle them) but are unaccented too.

Why not `simple` (no stemming: "resected" would not find "resection") or a medical dictionary (none
ships with PostgreSQL or RDS; an Ispell/synonym dictionary needs files on the server, which RDS does not
allow). `unaccent` is a trusted extension, so the database owner can create it on RDS.

Stored vectors (generated columns, so the database recomputes them on every INSERT and UPDATE, from the
ORM, raw SQL or a bulk load alike, and nothing can forget to):

- `cases_document.search_vector`: title (weight A), summary (B), full_text (C);
- `cases_case.search_vector`: title (A), focus (B), tags (B), clinical_summary (C).

The document vector is stored with STORAGE MAIN: kept in the row (the full text is what moves out to TOAST)
rather than out of line, because ranking reads the vector of every matching document; fetching it from the
TOAST table made a common-term search about four times slower in the benchmark.

Both vectors have a statistics target of 1000 (default 100): ANALYZE then keeps the frequencies of
ten times more lexemes, so the planner estimates rare terms ("Mirizzi") close to their true count and
picks index lookups instead of hashing every visible case; a rare-term search went from about 15 ms to
under 1 ms in the benchmark, for a slower ANALYZE (about 2 s per 100,000 documents).

Long text is capped before indexing (summaries at 50,000 characters, full text and clinical summary at
200,000, about 30,000 words or 80 pages): a tsvector cannot exceed 1 MB and PostgreSQL records word
positions only up to 16,383 anyway, so an unbounded pathological text extraction could otherwise make the
INSERT fail. `cases.fulltext` uses the same caps for headlines.

Adding a stored generated column rewrites the table under an exclusive lock: fine at this size; on a large
table schedule it in a maintenance window.
"""

from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations

from hpb.database import capabilities

CONFIGURATION_SQL = """
CREATE TEXT SEARCH CONFIGURATION hpb_english (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION hpb_english
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
    WITH unaccent, english_stem;
ALTER TEXT SEARCH CONFIGURATION hpb_english
    ALTER MAPPING FOR numword, numhword, hword_numpart
    WITH unaccent, simple;
"""

DOCUMENT_VECTOR_SQL = """
ALTER TABLE cases_document ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('hpb_english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('hpb_english'::regconfig, left(coalesce(summary, ''), 50000)), 'B')
    || setweight(to_tsvector('hpb_english'::regconfig, left(coalesce(full_text, ''), 200000)), 'C')
) STORED;
ALTER TABLE cases_document ALTER COLUMN search_vector SET STORAGE MAIN;
ALTER TABLE cases_document ALTER COLUMN search_vector SET STATISTICS 1000;
CREATE INDEX cases_document_search_gin ON cases_document USING gin (search_vector);
"""

CASE_VECTOR_SQL = """
ALTER TABLE cases_case ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('hpb_english'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('hpb_english'::regconfig, coalesce(focus, '')), 'B')
    || setweight(to_tsvector('hpb_english'::regconfig, coalesce(tags, '[]'::jsonb)), 'B')
    || setweight(to_tsvector('hpb_english'::regconfig, left(coalesce(clinical_summary, ''), 200000)), 'C')
) STORED;
ALTER TABLE cases_case ALTER COLUMN search_vector SET STATISTICS 1000;
CREATE INDEX cases_case_search_gin ON cases_case USING gin (search_vector);
"""


class RunSQLWithFullTextSearch(migrations.RunSQL):
    """RunSQL that does nothing where the database lacks full-text search (the SQLite demo), in both directions.

    The kernel seam `hpb.database.capabilities` answers, as it does for the code that uses these objects.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if capabilities(schema_editor.connection.alias).full_text_search:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if capabilities(schema_editor.connection.alias).full_text_search:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
    ]

    operations = [
        # CreateExtension is itself a no-op on databases other than PostgreSQL.
        UnaccentExtension(),
        RunSQLWithFullTextSearch(
            CONFIGURATION_SQL,
            reverse_sql="DROP TEXT SEARCH CONFIGURATION hpb_english;",
        ),
        RunSQLWithFullTextSearch(
            DOCUMENT_VECTOR_SQL,
            reverse_sql="ALTER TABLE cases_document DROP COLUMN search_vector;",  # drops the index too
        ),
        RunSQLWithFullTextSearch(
            CASE_VECTOR_SQL,
            reverse_sql="ALTER TABLE cases_case DROP COLUMN search_vector;",
        ),
    ]
