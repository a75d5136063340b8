"""The embedded demo (`make run`'s settings) on SQLite: migrate, seed, and curate by tag.

Runs manage.py in child processes with the local settings, so it exercises the same SQLite
database, filesystem storage and json_each tag filter a newcomer gets, not the test settings.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECKS = r"""
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()  # so responses carry their template context
from django.contrib.auth import get_user_model
from cases.models import Case, Document
from cases.services import filter_cases_by_tag
from hpb import storage

assert connection.vendor == "sqlite", connection.vendor
cases = Case.objects.all()
assert cases.count() == 3, cases.count()
pancreas = set(filter_cases_by_tag(cases, "pancreas").values_list("slug", flat=True))
assert pancreas == {"pdac-whipple-03"}, pancreas
assert set(filter_cases_by_tag(cases, "liver").values_list("slug", flat=True)) == {
    "hcc-segmentectomy-01", "colorectal-liver-metastases-02"}
assert not filter_cases_by_tag(cases, "live").exists()

client = Client()
client.force_login(get_user_model().objects.get(username="curator"))
response = client.get("/admin/cases/case/?tag=liver")
assert response.status_code == 200, response.status_code
assert {c.slug for c in response.context["cl"].result_list} == {
    "hcc-segmentectomy-01", "colorectal-liver-metastases-02"}
for document in Document.objects.all():
    url = storage.signed_url(document.storage_uri).removeprefix("http://127.0.0.1:8000")
    served = client.get(url)
    assert served.status_code == 200, (url, served.status_code)
assert client.get("/admin/cases/document/?q=fictional").status_code == 200
print("SQLITE-DEMO-OK")
"""


@pytest.mark.slow
def test_local_settings_migrate_seed_and_filter_tags_on_sqlite(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "S3_", "AWS_S3_", "STORAGE_", "HPB_", "DJANGO_", "PUBLIC_BASE"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", HPB_VAR_DIR=str(tmp_path / "var"))

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    manage("migrate", "--noinput", "-v", "0")
    first = manage("seed_hpb", "--cases", "3")
    assert "generated password" in first
    second = manage("seed_hpb", "--cases", "3")
    assert "generated password" not in second
    assert (tmp_path / "var" / "db.sqlite3").exists()
    assert len(list((tmp_path / "var" / "storage" / "documents").rglob("*.pdf"))) >= 3
    assert "SQLITE-DEMO-OK" in manage("shell", "-c", CHECKS)
