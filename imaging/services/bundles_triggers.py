"""What rebuilds a viewer bundle: every change that can alter what a published case's bundle holds.

Connected by `ImagingConfig.ready`. Each receiver only asks for a rebuild of the cases concerned
(`enqueue.enqueue_bundle`, once per case per transaction, after the commit); the task decides whether
anything changed, so a receiver may ask freely:

- the case itself: saved (the admin's change form, the seed) or moved in bulk (`case_statuses_changed`,
  sent by cases.services.publishing for the admin actions): publish, refresh or remove;
- its imaging: studies and structures saved or deleted (ingest success, admin edits);
- its documents: saved (a new file, the de-identified flag), deleted, linked or unlinked.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from cases.models import Case, Document
from cases.signals import case_statuses_changed
from imaging.models import CaseStructure, ImagingStudy
from imaging.services.enqueue import enqueue_bundle

_UID = "imaging.bundles."


def _ask(case_ids: Any) -> None:
    for case_id in sorted({int(i) for i in case_ids if i is not None}):
        enqueue_bundle(case_id=case_id)


def _case_saved(sender: Any, instance: Case, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _ask([instance.pk])


def _statuses_changed(sender: Any, case_ids: list[int], **kwargs: Any) -> None:
    _ask(case_ids)


def _imaging_changed(sender: Any, instance: ImagingStudy | CaseStructure, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _ask([instance.case_id])


def _document_saved(sender: Any, instance: Document, raw: bool = False, **kwargs: Any) -> None:
    if not raw and instance.pk is not None:
        _ask(instance.cases.values_list("pk", flat=True))


def _document_deleting(sender: Any, instance: Document, **kwargs: Any) -> None:
    # After the delete the links are gone: ask now (the request is sent only if the delete commits).
    _ask(instance.cases.values_list("pk", flat=True))


def _links_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if action not in {"post_add", "post_remove", "pre_clear"}:
        return
    if isinstance(instance, Document):  # document.cases.add(...): pk_set are case ids
        _ask(pk_set if action != "pre_clear" else instance.cases.values_list("pk", flat=True))
    elif isinstance(instance, Case):  # case.documents.add(...): the case itself
        _ask([instance.pk])


def connect() -> None:
    post_save.connect(_case_saved, sender=Case, dispatch_uid=_UID + "case")
    case_statuses_changed.connect(_statuses_changed, sender=Case, dispatch_uid=_UID + "statuses")
    for model in (ImagingStudy, CaseStructure):
        post_save.connect(_imaging_changed, sender=model, dispatch_uid=f"{_UID}{model.__name__}.saved")
        post_delete.connect(_imaging_changed, sender=model, dispatch_uid=f"{_UID}{model.__name__}.deleted")
    post_save.connect(_document_saved, sender=Document, dispatch_uid=_UID + "document.saved")
    pre_delete.connect(_document_deleting, sender=Document, dispatch_uid=_UID + "document.deleting")
    m2m_changed.connect(_links_changed, sender=Document.cases.through, dispatch_uid=_UID + "document.links")
