"""Fixtures for the API tests: cases with real files behind their references, a token client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cases.models import Case, Document
from hpb import storage
from imaging.models import CaseStructure, ImagingStudy
from tests.factories import (
    CaseFactory,
    CaseStructureFactory,
    DocumentFactory,
    EncounterFactory,
    ImagingStudyFactory,
)


@dataclass
class CaseWithFiles:
    """A published case whose document, volume, preview and meshes exist in the storages."""

    case: Case
    documents: list[Document]
    study: ImagingStudy
    structures: list[CaseStructure]
    # reference -> bytes stored behind it
    files: dict[str, bytes] = field(default_factory=dict)


def make_case_with_files(*, n_documents: int = 1, n_structures: int = 2, **case_kwargs: Any) -> CaseWithFiles:
    encounter = EncounterFactory.create()
    case_kwargs.setdefault("patient", encounter.patient)
    case_kwargs.setdefault("encounter", encounter)
    case = CaseFactory.create(**case_kwargs)
    files: dict[str, bytes] = {}

    def put(alias: str, key: str, content: bytes) -> str:
        reference = storage.save(alias, key, content)
        files[reference] = content
        return reference

    documents = [
        DocumentFactory.create(
            cases=[case],
            storage_uri=put("documents", f"reports/case-{case.pk}-{i}.txt", f"report {i} of {case.pk}".encode()),
            metadata={"pages": i + 1},
        )
        for i in range(n_documents)
    ]
    study = ImagingStudyFactory.create(
        case=case,
        volume_uri=put("assets", f"cases/{case.pk}/volume.vti", b"<VTKFile type='ImageData'/>"),
        preview_uri=put("assets", f"cases/{case.pk}/preview.png", b"\x89PNG fake preview"),
    )
    structures = [
        CaseStructureFactory.create(
            case=case,
            imaging_study=study,
            name=f"structure-{i}",
            mesh_uri=put("assets", f"cases/{case.pk}/mesh-{i}.vtp", f"<VTKFile type='PolyData' n='{i}'/>".encode()),
        )
        for i in range(n_structures)
    ]
    return CaseWithFiles(case=case, documents=documents, study=study, structures=structures, files=files)


@pytest.fixture
def case_with_files(db: None) -> CaseWithFiles:
    return make_case_with_files()


@pytest.fixture
def token_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


class QueryCounter(CaptureQueriesContext):
    def __init__(self) -> None:
        super().__init__(connection)

    @property
    def count(self) -> int:
        return len(self.captured_queries)


@pytest.fixture
def count_queries():
    return QueryCounter


__all__ = ["CaseWithFiles", "make_case_with_files"]
