"""An exact, trigger-maintained count of cases per (specialty, status, lightweight), for the case list.

PostgreSQL only; a no-op elsewhere (the SQLite demo counts with COUNT(*) as before). The table is not a
Django model: only `cases.services.list_counts` reads it, with SQL written from this file's names.

Why: the case list's `X-Total-Count` must be exact, and counting 10,000 visible cases is an index-only scan
of 10,000 entries (about 1.1 ms of PostgreSQL per request, more than a whole trivial API request). Every
visibility rule of the unfiltered list is an equality on these three columns (specialty, default HPB;
status published for non-staff; lightweight in lightweight mode), so its total is a SUM over a handful of
rows of `cases_case_list_count`.

How it stays exact: statement-level AFTER triggers on `cases_case` with transition tables
(`REFERENCING NEW TABLE / OLD TABLE`) add the inserted rows and subtract the deleted ones, grouped by the
three columns, in the same transaction as the change. So it holds for the ORM, `bulk_create`, `update()`,
raw SQL, cascades and `INSERT ... ON CONFLICT` alike; a rolled-back transaction (or savepoint) rolls the
count back with the rows; other transactions see the new count exactly when they see the new rows (MVCC);
and a statement touching 10,000 rows writes one counter row per group, not 10,000 times. An UPDATE writes
the counter only when a row moved between groups (HAVING sum <> 0), so editing a title never touches it.
TRUNCATE of `cases_case` empties the counter (test flushes truncate).

Concurrency: transactions that insert, delete or re-classify cases of the same group update the same
counter row, so they serialize on its row lock until each commits (READ COMMITTED: the second waits, then
adds to the committed value; REPEATABLE READ/SERIALIZABLE writers may get a serialization failure and
retry). That is acceptable for curation writes (a few per minute); a bulk load holds the lock for its
transaction. Groups are written in a fixed order (specialty, status, lightweight) so two statements that
touch several groups cannot deadlock on them.

What bypasses it: anything that skips triggers (`session_replication_role = replica`, `ALTER TABLE ...
DISABLE TRIGGER`, a data-only restore with `--disable-triggers`). After such an operation run
`manage.py rebuild_case_list_counts` (the function `cases_case_list_count_rebuild()`), which recounts
under a lock that blocks writers for the moment it takes.
"""

from django.db import migrations

from hpb.database import capabilities

COUNTS_SQL = """
CREATE TABLE cases_case_list_count (
    specialty text NOT NULL,
    status text NOT NULL,
    lightweight boolean NOT NULL,
    total bigint NOT NULL,
    PRIMARY KEY (specialty, status, lightweight)
);
COMMENT ON TABLE cases_case_list_count IS
    'Cases per (specialty, status, lightweight), maintained by triggers on cases_case; see cases migration 0003.';

CREATE FUNCTION cases_case_list_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- PL/pgSQL plans each statement when it first runs, so a branch may name a transition table
    -- that only its own trigger defines.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cases_case_list_count AS counted (specialty, status, lightweight, total)
        SELECT specialty, status, lightweight, count(*) FROM new_rows
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (specialty, status, lightweight) DO UPDATE SET total = counted.total + EXCLUDED.total;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO cases_case_list_count AS counted (specialty, status, lightweight, total)
        SELECT specialty, status, lightweight, -count(*) FROM old_rows
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (specialty, status, lightweight) DO UPDATE SET total = counted.total + EXCLUDED.total;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO cases_case_list_count AS counted (specialty, status, lightweight, total)
        SELECT specialty, status, lightweight, sum(delta) FROM (
            SELECT specialty, status, lightweight, 1 AS delta FROM new_rows
            UNION ALL
            SELECT specialty, status, lightweight, -1 AS delta FROM old_rows
        ) AS moved
        GROUP BY 1, 2, 3 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (specialty, status, lightweight) DO UPDATE SET total = counted.total + EXCLUDED.total;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM cases_case_list_count;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER cases_case_list_count_insert AFTER INSERT ON cases_case
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_count_apply();
CREATE TRIGGER cases_case_list_count_update AFTER UPDATE ON cases_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_count_apply();
CREATE TRIGGER cases_case_list_count_delete AFTER DELETE ON cases_case
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_count_apply();
CREATE TRIGGER cases_case_list_count_truncate AFTER TRUNCATE ON cases_case
    FOR EACH STATEMENT EXECUTE FUNCTION cases_case_list_count_apply();

CREATE FUNCTION cases_case_list_count_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- SHARE ROW EXCLUSIVE: readers go on, writers wait until the recount commits, so none is lost.
    LOCK TABLE cases_case IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM cases_case_list_count;
    INSERT INTO cases_case_list_count (specialty, status, lightweight, total)
    SELECT specialty, status, lightweight, count(*) FROM cases_case GROUP BY 1, 2, 3;
END;
$$;

-- The triggers exist (and CREATE TRIGGER holds a lock that keeps writers out until this migration
-- commits), so the initial count cannot miss a concurrent write.
SELECT cases_case_list_count_rebuild();
"""

DROP_COUNTS_SQL = """
DROP TRIGGER cases_case_list_count_insert ON cases_case;
DROP TRIGGER cases_case_list_count_update ON cases_case;
DROP TRIGGER cases_case_list_count_delete ON cases_case;
DROP TRIGGER cases_case_list_count_truncate ON cases_case;
DROP FUNCTION cases_case_list_count_apply();
DROP FUNCTION cases_case_list_count_rebuild();
DROP TABLE cases_case_list_count;
"""


class RunSQLWithCaseListCounts(migrations.RunSQL):
    """RunSQL that does nothing where the database lacks the counted case list (the SQLite demo), in both directions.

    The kernel seam `hpb.database.capabilities` answers, as it does for the code that uses these objects.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if capabilities(schema_editor.connection.alias).counted_case_list:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if capabilities(schema_editor.connection.alias).counted_case_list:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_full_text_search"),
    ]

    operations = [
        RunSQLWithCaseListCounts(COUNTS_SQL, reverse_sql=DROP_COUNTS_SQL),
    ]
