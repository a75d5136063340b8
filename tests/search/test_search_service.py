"""The search service on the real PostgreSQL: syntax, stemming, accents, ranking, snippets, paging."""

from __future__ import annotations

import re

import pytest

from cases import fulltext
from cases.models import Case
from cases.services import reading
from tests.search.helpers import make_case, make_document, search_all, titles

pytestmark = pytest.mark.django_db


def test_title_hit_beats_body_hit_even_with_repeated_body_mentions():
    in_title = make_case(title="Klatskin tumour")
    in_body = make_case(title="Hilar lesion")  # newer: it would win a tie
    make_document(
        in_body,
        full_text="Suspected Klatskin lesion. The Klatskin tumour reaches the confluence. Klatskin type IIIa.",
    )

    page = search_all("klatskin")

    assert titles(page) == ["Klatskin tumour", "Hilar lesion"]
    assert page.results[0].rank > page.results[1].rank > 0
    assert in_title.pk == page.results[0].case["id"]


def test_a_document_title_hit_beats_a_document_body_hit():
    body_case = make_case(title="Case one")
    make_document(body_case, title="Operative note", full_text="Pylorus-preserving Whipple procedure, uneventful.")
    title_case = make_case(title="Case two")
    make_document(title_case, title="Whipple operative note", full_text="Uneventful course.")
    # the newest case has the body hit, so only the weights can put the title hit first
    newest = make_case(title="Case three")
    make_document(newest, title="Letter", full_text="Whipple procedure planned after the Whipple workup.")

    assert titles(search_all("whipple"))[0] == "Case two"


def test_words_are_anded_and_or_alternates():
    make_case(title="Whipple for pancreatic head mass")
    make_case(title="Klatskin tumour")
    make_case(title="Unrelated cholecystectomy")

    assert set(titles(search_all("whipple or klatskin"))) == {"Whipple for pancreatic head mass", "Klatskin tumour"}
    assert titles(search_all("whipple klatskin")) == []
    assert titles(search_all("whipple pancreatic")) == ["Whipple for pancreatic head mass"]


def test_quoted_phrase_needs_the_words_adjacent_and_in_order():
    adjacent = make_case(title="A")
    make_document(adjacent, full_text="CT shows portal vein invasion by the tumour.")
    apart = make_case(title="B")
    make_document(apart, full_text="The vein was free; the portal phase showed no invasion.")

    assert set(titles(search_all("portal vein"))) == {"A", "B"}
    assert titles(search_all('"portal vein"')) == ["A"]
    assert titles(search_all('"vein portal"')) == []
    assert titles(search_all('"portal vein invasion"')) == ["A"]


def test_minus_excludes_per_document():
    open_case = make_case(title="Open")
    make_document(open_case, full_text="Open right hepatectomy.")
    lap_case = make_case(title="Laparoscopic")
    make_document(lap_case, full_text="Laparoscopic right hepatectomy.")

    assert titles(search_all("hepatectomy -laparoscopic")) == ["Open"]
    assert set(titles(search_all("hepatectomy"))) == {"Open", "Laparoscopic"}


def test_stemming_matches_word_forms():
    case = make_case(title="A")
    make_document(case, full_text="Resection of segments VII and VIII; two tumours were found.")

    for query in ("resected", "resecting", "resection", "tumour", "segment VII"):
        assert titles(search_all(query)) == ["A"], query


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Hépatico-jéjunostomie termino-latérale", "hepatico-jejunostomie"),
        ("hepatico-jejunostomie termino-laterale", "hépatico-jéjunostomie"),
        ("Klätskin tumour", "Klatskin"),
        ("Klatskin tumour", "KLÄTSKIN"),
        ("Cholangiocarcinome hilaire", "CHOLANGIOCARCINOME"),
    ],
)
def test_accents_and_case_do_not_matter(stored, typed):
    case = make_case(title="A")
    make_document(case, full_text=stored)
    make_case(title="B")

    assert titles(search_all(typed)) == ["A"]


def test_case_fields_and_tags_are_searched():
    make_case(title="A", focus="Extended right hepatectomy")
    make_case(title="B", tags=["pancreas", "IPMN"])
    make_case(title="C", clinical_summary="Incidental gallbladder polyp.")

    assert titles(search_all("extended hepatectomy")) == ["A"]
    assert titles(search_all("ipmn")) == ["B"]
    assert titles(search_all("polyps")) == ["C"]


def test_matching_documents_are_listed_best_first_and_others_left_out():
    case = make_case(title="A")
    body = make_document(case, title="Pathology", full_text="Margin-negative resection.")
    titled = make_document(case, title="Resection specimen", full_text="See below.")
    make_document(case, title="Discharge letter", full_text="Home on day 7.")

    (result,) = search_all("resection").results

    assert [(d.id, d.title) for d in result.documents] == [
        (titled.pk, "Resection specimen"),
        (body.pk, "Pathology"),
    ]


def test_snippet_highlights_hits_in_the_best_documents_full_text():
    case = make_case(title="A", clinical_summary="Summary without the word.")
    make_document(
        case,
        full_text="Preoperative imaging. The tumour was resected en bloc with the caudate lobe. Recovery was fine.",
    )

    (result,) = search_all("resection caudate").results

    assert "<mark>resected</mark>" in result.snippet
    assert "<mark>caudate</mark>" in result.snippet
    assert "Summary without" not in result.snippet


def test_snippet_falls_back_to_the_case_summary_when_only_the_case_matches():
    make_case(title="A", clinical_summary="Portal vein embolisation before extended hepatectomy.")

    (result,) = search_all("embolisation").results

    assert result.documents == ()
    assert result.snippet.startswith("Portal vein <mark>embolisation</mark>")


def test_snippet_is_html_safe_only_marks_are_markup():
    case = make_case(title="A")
    make_document(
        case,
        full_text=(
            'Note <img src=x onerror="alert(1)"> & <script>alert(2)</script> "quoted" 5 < 7 > 3 '
            "resection \ue000 stray \ue001 private-use characters <mark>fake</mark>."
        ),
    )

    (result,) = search_all("resection").results
    snippet = result.snippet

    assert "<mark>resection</mark>" in snippet
    without_marks = snippet.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_marks and ">" not in without_marks and '"' not in without_marks
    assert re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", snippet) is None  # every & is an entity
    assert "&amp;" in snippet and "&lt;" in snippet
    assert "\ue000" not in snippet and "\ue001" not in snippet
    assert snippet.count("<mark>") == snippet.count("</mark>") == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("the", fulltext.NO_WORDS),
        ("the of and", fulltext.NO_WORDS),
        ("-", fulltext.NO_WORDS),
        ("--", fulltext.NO_WORDS),
        ('""', fulltext.NO_WORDS),
        ("or", fulltext.NO_WORDS),
        ("or or", fulltext.NO_WORDS),
        ("!", fulltext.NO_WORDS),
        ("-liver", fulltext.ONLY_EXCLUSIONS),
        ('-"portal vein"', fulltext.ONLY_EXCLUSIONS),
        ("-liver the", fulltext.ONLY_EXCLUSIONS),
        ("liver or -tumour", fulltext.ONLY_EXCLUSIONS),
    ],
)
def test_a_query_with_nothing_to_look_for_is_refused_saying_why(query, message):
    case = make_case(title="The liver and the portal vein")
    make_document(case, full_text="Nothing about it.")

    with pytest.raises(fulltext.SearchQueryError) as refused:
        search_all(query)

    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("query", "total"), [("xanthogranulomatous", 0), ("liver -portal", 0), ("liver -the", 1), ("the liver", 1)]
)
def test_a_query_with_a_word_to_look_for_is_answered_even_when_empty(query, total):
    case = make_case(title="The liver and the portal vein")
    make_document(case, full_text="Nothing about it.")

    assert search_all(query).total == total


def test_paging_counts_all_and_returns_the_requested_slice():
    for number in range(7):
        make_case(title=f"Caudate lobe case {number}")

    first = search_all("caudate", limit=3)
    second = search_all("caudate", limit=3, offset=3)
    beyond = search_all("caudate", limit=3, offset=50)

    assert first.total == second.total == beyond.total == 7
    assert len(first.results) == 3 and len(second.results) == 3 and beyond.results == []
    assert not {r.case["id"] for r in first.results} & {r.case["id"] for r in second.results}
    # equal ranks: newest first, like the case list
    assert titles(first) == ["Caudate lobe case 6", "Caudate lobe case 5", "Caudate lobe case 4"]


def test_results_carry_the_case_summary_row_of_the_case_list():
    make_case(title="Caudate lobe", tags=["liver", "caudate"], focus="Isolated caudate resection")

    (result,) = search_all("caudate").results

    assert result.case == reading.case_summaries(Case.objects.all()).get()
    assert result.case["tags"] == ["liver", "caudate"]


def test_the_callers_queryset_restricts_the_search():
    published = make_case(title="Caudate published", status=Case.Status.PUBLISHED)
    make_case(title="Caudate draft", status=Case.Status.DRAFT)
    light = make_case(title="Caudate light", status=Case.Status.PUBLISHED, lightweight=True)

    visible = Case.objects.filter(status=Case.Status.PUBLISHED)
    assert {r.case["id"] for r in search_all("caudate", cases=visible).results} == {published.pk, light.pk}
    assert titles(search_all("caudate", cases=visible.filter(lightweight=True))) == ["Caudate light"]
    assert search_all("caudate", cases=Case.objects.none()).total == 0
    assert search_all("caudate", cases=Case.objects.exclude(pk__in=[])).total == 3  # a filter that keeps all


def test_querysets_with_joins_or_annotations_restrict_without_repeating_cases():
    from django.db.models import Count

    with_documents = make_case(title="Caudate with documents")
    make_document(with_documents, title="One")
    make_document(with_documents, title="Two")
    make_case(title="Caudate without documents")

    joined = Case.objects.filter(documents__title__in=["One", "Two"])  # the join repeats the case
    annotated = Case.objects.annotate(n=Count("documents")).filter(n__gte=2)

    assert titles(search_all("caudate", cases=joined)) == ["Caudate with documents"]
    assert search_all("caudate", cases=joined).total == 1
    assert titles(search_all("caudate", cases=annotated)) == ["Caudate with documents"]


def test_a_draft_cases_documents_never_show_through_a_published_only_search():
    draft = make_case(title="Draft", status=Case.Status.DRAFT)
    make_document(draft, title="Secret draft report", full_text="Klatskin tumour.")
    published = make_case(title="Published", status=Case.Status.PUBLISHED)
    shared = make_document(draft, published, title="Shared report", full_text="Klatskin again.")

    page = search_all("klatskin", cases=Case.objects.filter(status=Case.Status.PUBLISHED))

    assert titles(page) == ["Published"]
    assert [d.id for d in page.results[0].documents] == [shared.pk]
    assert "Secret" not in repr(page)


def test_filter_helpers_for_the_admin():
    case = make_case(title="Whipple")
    other = make_case(title="Other")
    document = make_document(other, title="Report", full_text="Pancreaticoduodenectomy (Whipple).")
    make_document(other, title="Letter", full_text="Follow-up.")
    from cases.models import Document

    assert set(fulltext.filter_cases(Case.objects.all(), query="whipple")) == {case, other}
    assert list(fulltext.filter_documents(Document.objects.all(), query="whipple")) == [document]
    assert list(fulltext.filter_documents(Document.objects.all(), query="-whipple")) == []
    assert list(fulltext.filter_cases(Case.objects.all(), query="the")) == []
