"""`manage.py publish_viewer_bundles [--case SLUG ...] [--prune]`: rebuild the viewer bundles now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import Case
from imaging.services import bundles


class Command(BaseCommand):
    help = (
        "Publish the viewer bundle of every published case (and remove those of the others) in the viewer "
        "storage, now and in this process. --case limits it to cases with that slug; --prune also removes "
        "folders under the prefix that belong to no published case (e.g. after a case was deleted)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", action="append", default=[], metavar="SLUG", help="A case's slug (repeatable).")
        parser.add_argument("--prune", action="store_true", help="Remove folders of no published case.")

    def handle(self, *args: Any, **options: Any) -> None:
        cases = Case.objects.order_by("pk")
        if options["case"]:
            cases = cases.filter(slug__in=options["case"])
            missing = sorted(set(options["case"]) - set(cases.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"No case has the slug {', '.join(missing)}.")
        counts: dict[str, int] = {}
        for outcome in bundles.sync_cases(case_ids=cases.values_list("pk", flat=True)):
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
            if options["verbosity"] >= 2 or outcome.action == "refused":
                self.stdout.write(
                    f"  case {outcome.case_id}: {outcome.action} {outcome.folder} {outcome.message}".rstrip()
                )
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no case"
        self.stdout.write(self.style.SUCCESS(f"Viewer bundles under {bundles.base_prefix()}/: {summary}."))
        if options["prune"]:
            removed = bundles.prune_folders()
            self.stdout.write(f"Pruned {len(removed)} folder{'s' if len(removed) != 1 else ''} of no published case.")
