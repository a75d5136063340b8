"""What `seed_hpb` will create, decided in pure Python from (seed, case index).

A plan is a frozen description of one case: its fictional patient, encounters, case fields and
documents (with their full text). Nothing here touches the database or storage, so determinism is
easy to see and test: the same (seed, index) always gives an equal plan, and each case is drawn from
its own random stream, so `--cases 3` gives exactly the first three cases of `--cases 8`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from seed.scenarios import FICTION_NOTICE, SCENARIOS, Scenario, derived_variables

# Fixed so that the same seed gives the same dates whenever it runs.
ANCHOR = dt.datetime(2025, 6, 30, 9, 0, tzinfo=dt.UTC)
FACILITY = "Northbridge University Hospital (fictional)"
SURGEONS = (
    "Dr. Imogen Tallis (fictional)",
    "Dr. Rafael Quennell (fictional)",
    "Dr. Priya Ashdown (fictional)",
    "Dr. Tomasz Wendling (fictional)",
)
RADIOLOGISTS = ("Dr. Hana Ostrowe (fictional)", "Dr. Callum Brisley (fictional)")
FIRST_NAMES = {
    "female": ("Aveline", "Maren", "Solveig", "Odile", "Thessaly", "Linnea", "Perpetua", "Ysolde", "Clementa"),
    "male": ("Bartholo", "Evander", "Caspian", "Leopold", "Osric", "Thaddeus", "Florian", "Ignatius", "Rowan"),
}
LAST_NAMES = (
    "Quillfeather",
    "Ambervale",
    "Thornbury",
    "Castellane",
    "Wintermere",
    "Greywater",
    "Fenwright",
    "Halloway",
    "Brightmoor",
    "Ashcombe",
    "Sterling-Vos",
    "Marchetti-Lund",
)
# Status by position in each block of eight: mostly published, one draft, one archived.
STATUS_BY_POSITION = ("published", "published", "published", "draft", "published", "published", "archived", "published")

DOCUMENT_KINDS = (
    # (kind, file format, required)
    ("imaging-report", "txt", True),
    ("tumour-board-outcome", "pdf", True),
    ("operative-note", "pdf", False),
    ("pathology-report", "txt", False),
    ("laboratory-results", "csv", False),
)


@dataclass(frozen=True)
class PatientPlan:
    mrn: str
    first_name: str
    last_name: str
    date_of_birth: dt.date
    sex: str
    notes: str


@dataclass(frozen=True)
class EncounterPlan:
    encounter_type: str
    started_at: dt.datetime
    ended_at: dt.datetime
    facility: str
    attending: str


@dataclass(frozen=True)
class DocumentPlan:
    slug: str
    kind: str
    title: str
    summary: str
    filename: str
    fmt: str  # "txt", "csv" or "pdf"
    heading: str
    sections: tuple[tuple[str, str], ...]  # (section title, text); for csv: one section of CSV text
    created_at: dt.datetime


@dataclass(frozen=True)
class CasePlan:
    seed: int
    index: int
    scenario: str
    patient: PatientPlan
    encounters: tuple[EncounterPlan, ...]
    case_encounter_type: str
    slug: str
    title: str
    focus: str
    clinical_summary: str
    tags: tuple[str, ...]
    status: str
    lightweight: bool
    created_at: dt.datetime
    documents: tuple[DocumentPlan, ...]


def plan_collection(*, seed: int, cases: int) -> list[CasePlan]:
    """The plans of the first `cases` cases for `seed`."""
    return [plan_case(seed=seed, index=index) for index in range(cases)]


def scenario_for(*, seed: int, index: int) -> Scenario:
    """Scenarios rotate with the seed, so any eight consecutive cases cover all eight scenarios."""
    return SCENARIOS[(index + seed) % len(SCENARIOS)]


def plan_case(*, seed: int, index: int) -> CasePlan:
    """Draw case `index` of the collection for `seed` (pure and deterministic)."""
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    scenario = scenario_for(seed=seed, index=index)
    rng = random.Random(f"hpb-seed:{seed}:{index}")  # noqa: S311 - synthetic content, not security

    sex = rng.choice(("female", "male"))
    age = rng.randint(24, 40) if scenario.key == "choledochal-cyst" else rng.randint(46, 81)
    variables = {
        "age": age,
        "sex_word": "woman" if sex == "female" else "man",
        **scenario.variables(rng),
    }
    variables.update(derived_variables(variables))

    number = f"{index + 1:02d}"
    suffix = number if seed == 0 else f"s{seed}-{number}"
    slug = f"{scenario.key}-{suffix}"
    mrn = f"SYN-{index + 1:05d}" if seed == 0 else f"SYN-S{seed}-{index + 1:05d}"

    referral = ANCHOR - dt.timedelta(days=rng.randint(40, 600), hours=rng.randint(0, 6))
    born = dt.date(referral.year - age, rng.randint(1, 12), rng.randint(1, 28))
    surgeon = rng.choice(SURGEONS)
    encounters, surgery_day = _encounters(rng, referral, surgeon)
    mdt_day = next(e.started_at for e in encounters if e.encounter_type == "mdt")

    patient = PatientPlan(
        mrn=mrn,
        first_name=rng.choice(FIRST_NAMES[sex]),
        last_name=rng.choice(LAST_NAMES),
        date_of_birth=born,
        sex=sex,
        notes=f"Synthetic patient for the {scenario.key} demo case. Not a real person; any resemblance is chance.",
    )
    title = scenario.title.format(**variables)
    summary = scenario.summary.format(**variables) + " " + FICTION_NOTICE
    documents = _documents(
        rng,
        scenario,
        variables,
        case_slug=slug,
        case_title=title,
        surgeon=surgeon,
        dates=(referral, mdt_day, surgery_day),
    )
    return CasePlan(
        seed=seed,
        index=index,
        scenario=scenario.key,
        patient=patient,
        encounters=encounters,
        case_encounter_type="surgery",
        slug=slug,
        title=title,
        focus=scenario.focus.format(**variables),
        clinical_summary=summary,
        tags=(*scenario.tags, "synthetic"),
        status=STATUS_BY_POSITION[index % len(STATUS_BY_POSITION)],
        lightweight=scenario.lightweight,
        created_at=mdt_day + dt.timedelta(hours=2),
        documents=documents,
    )


def _encounters(
    rng: random.Random, referral: dt.datetime, surgeon: str
) -> tuple[tuple[EncounterPlan, ...], dt.datetime]:
    imaging = referral + dt.timedelta(days=rng.randint(3, 14), hours=2)
    mdt = imaging + dt.timedelta(days=rng.randint(5, 14))
    surgery = mdt + dt.timedelta(days=rng.randint(14, 42))
    follow_up = surgery + dt.timedelta(days=rng.randint(28, 56))
    radiologist = rng.choice(RADIOLOGISTS)
    plans = (
        EncounterPlan("consultation", referral, referral + dt.timedelta(minutes=45), FACILITY, surgeon),
        EncounterPlan("imaging", imaging, imaging + dt.timedelta(minutes=30), FACILITY, radiologist),
        EncounterPlan("mdt", mdt, mdt + dt.timedelta(minutes=20), FACILITY, "HPB tumour board (fictional)"),
        EncounterPlan("surgery", surgery, surgery + dt.timedelta(hours=rng.randint(3, 8)), FACILITY, surgeon),
        EncounterPlan("follow_up", follow_up, follow_up + dt.timedelta(minutes=30), FACILITY, surgeon),
    )
    return plans, surgery


def _documents(
    rng: random.Random,
    scenario: Scenario,
    v: dict,
    *,
    case_slug: str,
    case_title: str,
    surgeon: str,
    dates: tuple[dt.datetime, dt.datetime, dt.datetime],
) -> tuple[DocumentPlan, ...]:
    referral, mdt, surgery = dates
    optional = [kind for kind, _, required in DOCUMENT_KINDS if not required]
    chosen_optional = set(rng.sample(optional, rng.randint(0, 2)))
    kinds = [(kind, fmt) for kind, fmt, required in DOCUMENT_KINDS if required or kind in chosen_optional]

    def fill(template: str) -> str:
        return template.format(**v)

    documents = []
    for kind, fmt in kinds:
        sections: tuple[tuple[str, str], ...]  # (heading, text), as many as the kind has
        if kind == "imaging-report":
            title = scenario.imaging_exam
            summary = fill(scenario.imaging_impression)
            sections = (("Findings", fill(scenario.imaging_findings)), ("Impression", summary))
            when = referral + dt.timedelta(days=7)
        elif kind == "tumour-board-outcome":
            title = "HPB tumour board outcome"
            summary = fill(scenario.mdt_recommendation).split(". ")[0] + "."
            sections = (
                ("Discussion", fill(scenario.mdt_discussion)),
                ("Recommendation", fill(scenario.mdt_recommendation)),
            )
            when = mdt
        elif kind == "operative-note":
            title = "Operative note"
            summary = fill(scenario.focus)
            sections = (
                ("Surgeon", surgeon),
                ("Procedure", fill(scenario.operation_procedure)),
                ("Findings", fill(scenario.operation_findings)),
            )
            when = surgery
        elif kind == "pathology-report":
            title = "Histopathology report"
            summary = fill(scenario.pathology).split(". ")[1] + "."
            sections = (("Report", fill(scenario.pathology)),)
            when = surgery + dt.timedelta(days=9)
        else:
            title = "Laboratory results"
            summary = "Tumour markers and liver function before surgery."
            # Every row says where it comes from, so a copied line never passes for a real result.
            rows = ["test,value,unit,reference,source"] + [
                ",".join(_csv_cell(x) for x in (test, fill(value), unit, ref, "fictional (seed_hpb)"))
                for test, value, unit, ref in scenario.labs
            ]
            sections = (("csv", "\n".join(rows)),)
            when = mdt - dt.timedelta(days=2)
        documents.append(
            DocumentPlan(
                slug=f"{case_slug}-{kind}",
                kind=kind,
                title=title,
                summary=summary,
                filename=f"{kind}.{fmt}",
                fmt=fmt,
                heading=f"{title} - {case_title}",
                sections=sections,
                created_at=when,
            )
        )
    return tuple(documents)


def _csv_cell(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ',"\n') else value
