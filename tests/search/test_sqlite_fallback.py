"""The embedded demo (`make run`): migrations apply on a fresh SQLite file and search degrades to containment.

Runs real `manage.py` processes with the local settings on a temporary SQLite database, as `make run` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from cases import fulltext
from cases.models import Case, Document, Patient

patient = Patient.objects.create(mrn="SYN-1", first_name="A", last_name="B")
whipple = Case.objects.create(patient=patient, slug="w", title="Whipple case", status="published",
                              clinical_summary="Pancreatic head mass.", tags=["pancreas"])
klatskin = Case.objects.create(patient=patient, slug="k", title="Hilar case", status="published")
draft = Case.objects.create(patient=patient, slug="d", title="Draft Klatskin", status="draft")
report = Document.objects.create(slug="r", title="CT report", storage_uri="storage://documents/r.txt",
                                 full_text="Hilar lesion: KLATSKIN tumour <b>type IIIa</b> & portal vein contact.")
report.cases.add(klatskin)
lap = Document.objects.create(slug="l", title="Laparoscopic note", storage_uri="storage://documents/l.txt",
                              full_text="Laparoscopic distal pancreatectomy.")
lap.cases.add(whipple)

published = Case.objects.filter(status="published")
def run(query, cases=published):
    page = fulltext.search(query=query, cases=cases, limit=10)
    return {"total": page.total, "titles": [r.case["title"] for r in page.results],
            "documents": [[d.title for d in r.documents] for r in page.results],
            "snippets": [r.snippet for r in page.results]}

errors = []
for bad in ["", "   ", "x" * 501, "a\x00b"]:
    try:
        fulltext.search(query=bad, cases=published, limit=10)
    except fulltext.SearchQueryError as error:
        errors.append(str(error))

from django.contrib.auth import get_user_model
from django.test import Client

admin_user = get_user_model().objects.create_superuser("admin", "admin@example.org", "pw-for-tests-only")
client = Client()
client.force_login(admin_user)
admin_pages = {}
for query in ["klatskin", "' OR 1=1 --", "a\x00b"]:
    response = client.get("/admin/cases/case/", {"q": query})
    admin_pages[query] = [response.status_code, "Draft Klatskin" in response.text, "Hilar case" in response.text]

api = {}
for path in ["/api/v1/search?q=klatskin", "/api/v1/cases?q=pancreas", "/api/v1/search?q=%20", "/api/v1/search?q=-",
             "/api/v1/cases", "/api/v1/cases?limit=1&offset=1", "/api/v1/cases/KLATSKIN"]:
    response = client.get(path.replace("KLATSKIN", str(klatskin.pk)))
    api[path] = [response.status_code, response.json(), response.headers.get("X-Total-Count")]

from django.db import connection
tables = connection.introspection.table_names()

print(json.dumps({
    "api": api,
    "counter_table": "cases_case_list_count" in tables,
    "admin": admin_pages,
    "klatskin": run("klatskin"),
    "klatskin_all": run("klatskin", Case.objects.all()),
    "phrase": run('"portal vein"'),
    "tag": run("pancreas"),
    "excluded": run("pancreas -laparoscopic"),
    "nothing": run("-"),
    "odd": [run(q)["total"] for q in ["' OR 1=1 --", '"unbalanced', "\\", "😀", "שלום", "-" * 500]],
    "admin_cases": sorted(c.title for c in fulltext.filter_cases(Case.objects.all(), query="klatskin")),
    "admin_documents": [d.title for d in fulltext.filter_documents(Document.objects.all(), query="laparoscopic")],
    "errors": errors,
}))
"""


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("sqlite-demo")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "HPB_VAR_DIR": str(folder),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrated = subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    ran = subprocess.run([*manage, "shell", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    return {"migrate": migrated.stdout, **json.loads(ran.stdout.strip().splitlines()[-1])}


def test_migrations_apply_on_a_fresh_sqlite_file(sqlite_run):
    assert "Applying cases.0002_full_text_search... OK" in sqlite_run["migrate"]
    assert "Applying cases.0003_case_list_counts... OK" in sqlite_run["migrate"]
    assert sqlite_run["counter_table"] is False  # the counter is PostgreSQL's; SQLite counts rows


def test_the_case_list_and_detail_on_sqlite(sqlite_run):
    api = sqlite_run["api"]
    status, body, total = api["/api/v1/cases"]
    assert (status, total) == (200, "3")  # the (staff) superuser sees the draft too
    assert [row["title"] for row in body] == ["Draft Klatskin", "Hilar case", "Whipple case"]
    status, body, total = api["/api/v1/cases?limit=1&offset=1"]
    assert (status, total, [row["title"] for row in body]) == (200, "3", ["Hilar case"])
    status, body, _ = api["/api/v1/cases/KLATSKIN"]
    assert status == 200
    assert body["title"] == "Hilar case"
    assert [d["title"] for d in body["documents"]] == ["CT report"]


def test_containment_search_on_sqlite(sqlite_run):
    assert sqlite_run["klatskin"]["titles"] == ["Hilar case"]  # case-insensitive; the draft stays hidden
    assert sqlite_run["klatskin"]["documents"] == [["CT report"]]
    assert sqlite_run["klatskin_all"]["total"] == 2
    assert sqlite_run["phrase"]["titles"] == ["Hilar case"]
    assert sqlite_run["tag"]["titles"] == ["Whipple case"]
    assert sqlite_run["excluded"]["total"] == 0
    assert sqlite_run["nothing"]["total"] == 0
    assert sqlite_run["odd"] == [0, 0, 0, 0, 0, 0]
    assert sqlite_run["admin_cases"] == ["Draft Klatskin", "Hilar case"]
    assert sqlite_run["admin_documents"] == ["Laparoscopic note"]
    assert len(sqlite_run["errors"]) == 4


def test_the_admin_search_box_uses_containment_on_sqlite(sqlite_run):
    # the ModelAdmin's own search_fields (title, slug, MRN, summary), not the documents' text
    assert sqlite_run["admin"]["klatskin"] == [200, True, False]
    assert sqlite_run["admin"]["' OR 1=1 --"][0] == 200
    assert sqlite_run["admin"]["a\x00b"][0] == 200


def test_the_api_searches_by_containment_on_sqlite(sqlite_run):
    api = sqlite_run["api"]
    status, body, total = api["/api/v1/search?q=klatskin"]
    assert (status, total) == (200, "2")  # the (staff) superuser also sees the draft titled Klatskin
    assert [item["case"]["title"] for item in body] == ["Draft Klatskin", "Hilar case"]  # newest first
    assert [d["title"] for d in body[1]["documents"]] == ["CT report"] and "<mark>" in body[1]["snippet"]
    status, body, total = api["/api/v1/cases?q=pancreas"]
    assert status == 200 and [row["title"] for row in body] == ["Whipple case"]
    assert api["/api/v1/search?q=%20"][0] == 400
    assert api["/api/v1/search?q=-"][:2] == [200, []]


def test_sqlite_snippets_are_escaped_with_marks(sqlite_run):
    (snippet,) = sqlite_run["klatskin"]["snippets"]

    assert "<mark>KLATSKIN</mark>" in snippet
    assert "&lt;b&gt;type IIIa&lt;/b&gt; &amp; portal" in snippet
