"""`manage.py rebuild_case_list_counts`: recount the case list's counter from the cases themselves.

Only needed after something wrote `cases_case` without firing its triggers (a data-only restore with
`--disable-triggers`, `session_replication_role = replica`, a disabled trigger): the triggers keep the
counter exact otherwise. Writers wait for the moment the recount takes; readers do not.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from cases.services import list_counts


class Command(BaseCommand):
    help = "Recount the case list's trigger-maintained counter (PostgreSQL) from cases_case."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args: Any, database: str, **options: Any) -> None:
        if not list_counts.available(using=database):
            raise CommandError("The case list counter exists on PostgreSQL only; other databases count directly.")
        list_counts.rebuild(using=database)
        self.stdout.write(f"Recounted the case list counter: {list_counts.total(filters={}, using=database)} cases.")
