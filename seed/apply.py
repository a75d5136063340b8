"""Write a case plan to the database and the documents storage, idempotently.

Rows are found by natural keys (patient MRN; encounter by patient and type; case by patient and
slug; document by slug) and updated in place; files go through `cases.services.store_document_file`,
the same code as an admin upload, which writes each file under the same key every time.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from cases.models import Case, Document, Encounter, Patient
from cases.services import store_document_file
from seed.plan import CasePlan
from seed.render import render_document


@dataclass(frozen=True)
class SeededCase:
    """What one plan became: the rows, for the command's report and its per-case extensions."""

    plan: CasePlan
    case: Case
    patient: Patient
    documents: tuple[Document, ...]


@transaction.atomic
def apply_case_plan(plan: CasePlan) -> SeededCase:
    p = plan.patient
    patient, _ = Patient.objects.update_or_create(
        mrn=p.mrn,
        defaults={
            "first_name": p.first_name,
            "last_name": p.last_name,
            "date_of_birth": p.date_of_birth,
            "sex": p.sex,
            "notes": p.notes,
        },
    )
    encounters = {}
    for e in plan.encounters:
        encounters[e.encounter_type], _ = Encounter.objects.update_or_create(
            patient=patient,
            encounter_type=e.encounter_type,
            defaults={
                "started_at": e.started_at,
                "ended_at": e.ended_at,
                "facility": e.facility,
                "attending": e.attending,
            },
        )
    case, _ = Case.objects.update_or_create(
        patient=patient,
        slug=plan.slug,
        defaults={
            "encounter": encounters[plan.case_encounter_type],
            "title": plan.title,
            "focus": plan.focus,
            "specialty": "HPB",
            "clinical_summary": plan.clinical_summary,
            "tags": list(plan.tags),
            "status": plan.status,
            "lightweight": plan.lightweight,
        },
    )
    # created_at is auto_now_add; the seed sets it so dates (and the list order) are deterministic too.
    Case.objects.filter(pk=case.pk).update(created_at=plan.created_at)
    case.created_at = plan.created_at

    documents = []
    for d in plan.documents:
        document = Document.objects.filter(slug=d.slug).first() or Document(slug=d.slug)
        document.title = d.title
        document.summary = d.summary
        document.metadata = {**(document.metadata or {}), "synthetic": True, "kind": d.kind}
        document.deidentified = True  # fictional from the start: nothing in it names a real patient
        store_document_file(document=document, content=render_document(d), filename=d.filename, patients=[patient])
        Document.objects.filter(pk=document.pk).update(created_at=d.created_at)
        document.cases.add(case)
        documents.append(document)
    return SeededCase(plan=plan, case=case, patient=patient, documents=tuple(documents))
