"""What API clients read about a job's state: `state`, and the `status`/`stage` they always had."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from imaging.models import IngestJob

pytestmark = pytest.mark.django_db

Status = IngestJob.Status


@pytest.mark.parametrize(
    ("state", "stage", "shown"),
    [
        (Status.AWAITING_UPLOAD, "", ("queued", "awaiting_upload")),
        (Status.QUEUED, "", ("queued", "")),
        (Status.RUNNING, "meshes", ("running", "meshes")),
        (Status.RETRYING, "store", ("queued", "retrying")),
        (Status.SUCCEEDED, "done", ("succeeded", "done")),
        (Status.FAILED, "read", ("failed", "read")),
    ],
)
def test_every_state_reads_as_the_status_and_stage_clients_know(staff_client, case, state, stage, shown):
    job = IngestJob.objects.create(case=case, status=state, stage=stage)

    body = staff_client.get(f"/api/v1/ingest-jobs/{job.pk}").json()

    assert (body["status"], body["stage"]) == shown
    assert body["state"] == state


def test_the_schema_documents_the_state_and_the_status_clients_know():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    properties = components["IngestJob"]["properties"]

    def enum(name: str) -> list[str]:
        return components[properties[name]["allOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]

    assert enum("status") == ["queued", "running", "succeeded", "failed"]
    assert enum("state") == ["awaiting_upload", "queued", "running", "retrying", "succeeded", "failed"]
    assert properties["stage"]["type"] == "string"
    assert {"state", "status", "stage"} <= set(components["IngestJob"]["required"])
