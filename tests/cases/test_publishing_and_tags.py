"""Status changes and the tag filter over the JSON list (PostgreSQL here; SQLite in tests/hpb)."""

import pytest

from cases.models import Case
from cases.services import all_tags, archive_cases, filter_cases_by_tag, publish_cases, set_case_status
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def test_publish_reports_changed_and_unchanged():
    drafts = CaseFactory.create_batch(2, status="draft")
    published = CaseFactory.create(status="published")
    change = publish_cases(cases=Case.objects.filter(pk__in=[c.pk for c in [*drafts, published]]))
    assert (change.changed, change.unchanged) == (2, 1)
    assert set(Case.objects.values_list("status", flat=True)) == {"published"}


def test_archive_moves_updated_at_only_for_changed_rows():
    archived = CaseFactory.create(status="archived")
    live = CaseFactory.create(status="published")
    before = {c.pk: c.updated_at for c in (archived, live)}
    change = archive_cases(cases=Case.objects.all())
    assert (change.changed, change.unchanged) == (1, 1)
    archived.refresh_from_db()
    live.refresh_from_db()
    assert archived.updated_at == before[archived.pk]
    assert live.updated_at > before[live.pk]


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="Unknown case status"):
        set_case_status(cases=Case.objects.all(), status="deleted")


def test_tag_filter_matches_whole_elements_only():
    liver = CaseFactory.create(tags=["liver", "hcc"])
    CaseFactory.create(tags=["liver-transplant"])
    CaseFactory.create(tags=["Liver"])
    quoted = CaseFactory.create(tags=['say "liver"'])
    CaseFactory.create(tags=[])
    assert list(filter_cases_by_tag(Case.objects.all(), "liver")) == [liver]
    assert list(filter_cases_by_tag(Case.objects.all(), 'say "liver"')) == [quoted]
    assert not filter_cases_by_tag(Case.objects.all(), "live").exists()


def test_all_tags_counts_cases_per_tag():
    CaseFactory.create(tags=["liver", "hcc"])
    CaseFactory.create(tags=["liver", "liver"])
    CaseFactory.create(tags=["pancreas"])
    assert all_tags(Case.objects.all()) == [("liver", 2), ("hcc", 1), ("pancreas", 1)]
