"""`manage.py seed_hpb`: a synthetic, deterministic, idempotent HPB demo collection and a demo curator.

The content lives in `seed` (scenarios -> pure plans -> rows and files); this command only
parses options, runs the plans and reports. Each case passes through `extend_case` once its rows
and documents exist: that is where per-case additions (imaging) plug in.
"""

from __future__ import annotations

import argparse
import zlib
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from imaging.models import CaseStructure, ImagingStudy
from imaging.services.seeding import IMAGING_SIZES, seed_case_imaging
from seed.apply import SeededCase, apply_case_plan
from seed.demo_user import DemoAccount, ensure_demo_curator
from seed.plan import plan_collection
from seed.scenarios import SCENARIOS

MAX_CASES = 500


def _count(value: str) -> int:
    number = int(value)
    if not 0 <= number <= MAX_CASES:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_CASES}, got {number}")
    return number


def _seed(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("the seed must be 0 or more")
    return number


class Command(BaseCommand):
    help = (
        "Create or update a synthetic HPB demo collection (fictional patients, cases, encounters and "
        "text/PDF documents in the documents storage) and a demo curator account. Deterministic for a "
        "given --seed and safe to run again: rows and files are updated in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cases",
            type=_count,
            default=8,
            help=f"How many cases (default 8; {len(SCENARIOS)} scenarios rotate, so 8 covers every one).",
        )
        parser.add_argument(
            "--seed",
            type=_seed,
            default=0,
            help="Random seed of the content (default 0). Other seeds make other patients, with their own MRNs.",
        )
        parser.add_argument(
            "--imaging-size",
            choices=IMAGING_SIZES,
            default=settings.HPB_SEED_IMAGING_SIZE,
            help=(
                "Imaging of each case: a synthetic CT phantom with its segmentation, ingested like an upload. "
                "small (96x96x48, the default, quick), full (512x512x300, a realistic CT) or none. "
                "Default from HPB_SEED_IMAGING_SIZE."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seeded: list[SeededCase] = []
        for plan in plan_collection(seed=options["seed"], cases=options["cases"]):
            case = apply_case_plan(plan)
            self.extend_case(case, options)
            seeded.append(case)
            if options["verbosity"] >= 2:
                self.stdout.write(f"  {case.case.slug}: {case.case.status}, {len(case.documents)} documents")
        self._report_collection(seeded, options)
        account = ensure_demo_curator(
            username=settings.HPB_DEMO_USERNAME, password=getattr(settings, "HPB_DEMO_PASSWORD", "")
        )
        self._report_account(account)

    def extend_case(self, seeded: SeededCase, options: dict) -> None:
        """Per-case extension point, called inside the run after the case, patient and documents exist.

        Imaging: the case's own deterministic phantom (from the seed and the case slug) goes through
        the ingestion service; seeding again finds its study and leaves it (idempotent).
        """
        size = options.get("imaging_size", settings.HPB_SEED_IMAGING_SIZE)
        phantom_seed = zlib.crc32(f"{options['seed']}/{seeded.case.slug}".encode())
        seed_case_imaging(case=seeded.case, size=size, seed=phantom_seed)

    def _report_collection(self, seeded: list[SeededCase], options: dict) -> None:
        statuses = Counter(s.case.status for s in seeded)
        lightweight = sum(1 for s in seeded if s.case.lightweight)
        documents = sum(len(s.documents) for s in seeded)
        parts = ", ".join(f"{statuses[k]} {k}" for k in ("published", "draft", "archived") if statuses[k])
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(seeded)} synthetic cases (seed {options['seed']}): {parts or 'none'}; "
                f"{lightweight} lightweight; {documents} documents."
            )
        )
        size = options.get("imaging_size", settings.HPB_SEED_IMAGING_SIZE)
        if size != "none":
            studies = ImagingStudy.objects.filter(case__in=[s.case for s in seeded]).count()
            structures = CaseStructure.objects.filter(case__in=[s.case for s in seeded]).count()
            self.stdout.write(
                f"Imaging ({size} phantom): {studies} studies and {structures} structures, ingested through "
                "the same pipeline as uploads."
            )

    def _report_account(self, account: DemoAccount) -> None:
        username = account.user.get_username()
        for warning in account.password_warnings:
            self.stderr.write(self.style.WARNING(f"HPB_DEMO_PASSWORD is weak: {warning}"))
        if account.generated_password:
            self.stdout.write(
                self.style.SUCCESS(f"Created the demo curator {username!r} with the generated password: ")
                + account.generated_password
            )
            self.stdout.write(
                "  Write it down: it is shown only now. Set HPB_DEMO_PASSWORD and re-run to choose another."
            )
        elif account.created:
            self.stdout.write(
                self.style.SUCCESS(f"Created the demo curator {username!r} (password from HPB_DEMO_PASSWORD).")
            )
        elif account.password_changed:
            self.stdout.write(f"Demo curator {username!r}: password set from HPB_DEMO_PASSWORD.")
        else:
            self.stdout.write(
                f"Demo curator {username!r} already exists; password unchanged "
                "(set HPB_DEMO_PASSWORD and re-run, or use `manage.py changepassword`, to reset it)."
            )
