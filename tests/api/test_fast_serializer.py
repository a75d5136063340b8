"""FastReadSerializer renders what DRF's own field machinery renders, and refuses fields it cannot."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from hpb.api.fast import FastReadSerializer


class Child(FastReadSerializer):
    name = serializers.CharField()
    born = serializers.DateField(allow_null=True)


class Row(FastReadSerializer):
    id = serializers.IntegerField()
    title = serializers.CharField(source="heading")
    at = serializers.DateTimeField()
    flag = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    meta = serializers.JSONField()
    kind = serializers.ChoiceField(choices=["a", "b"])
    child = Child()
    children = Child(many=True)


class SlowChild(serializers.Serializer):
    name = serializers.CharField()
    born = serializers.DateField(allow_null=True)


class SlowRow(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(source="heading")
    at = serializers.DateTimeField()
    flag = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    meta = serializers.JSONField()
    kind = serializers.ChoiceField(choices=["a", "b"])
    child = SlowChild()
    children = SlowChild(many=True)


ROWS = [
    {
        "id": 7,
        "heading": "Whipple",
        "at": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        "flag": True,
        "tags": ["pancreas", "PDAC"],
        "meta": {"a": [1, 2.5, None], "b": {"c": "d"}},
        "kind": "b",
        "child": {"name": "x", "born": dt.date(1960, 1, 2)},
        "children": [{"name": "y", "born": None}, {"name": "z", "born": dt.date(2000, 2, 29)}],
    },
    {
        "id": 8,
        "heading": "",
        "at": dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "flag": False,
        "tags": [],
        "meta": {},
        "kind": "a",
        "child": None,
        "children": [],
    },
]


@pytest.mark.parametrize("row", ROWS)
def test_fast_equals_drf(row):
    assert Row(row).data == SlowRow(row).data


def test_many_equals_drf():
    assert Row(ROWS, many=True).data == SlowRow(ROWS, many=True).data


def test_unsupported_fields_are_refused():
    class Odd(FastReadSerializer):
        price = serializers.DecimalField(max_digits=5, decimal_places=2)

    with pytest.raises(ImproperlyConfigured, match="price"):
        Odd({"price": 1}).data  # noqa: B018
