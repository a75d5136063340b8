"""`migrate` creates the table of a database cache (production's throttle counts) on PostgreSQL."""

from importlib import import_module

import pytest
from django.core.cache import caches
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

cache_tables = import_module("hpb.migrations.0001_cache_tables")


def test_the_migration_creates_a_configured_database_cache_table_once(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t_cache"}}
    try:
        with connection.schema_editor() as editor:
            cache_tables.create_cache_tables(None, editor)
        with connection.schema_editor() as editor:
            cache_tables.create_cache_tables(None, editor)  # again: idempotent

        assert "t_cache" in connection.introspection.table_names()
        caches["default"].set("throttle_token_198.51.100.7", [1.0], 60)
        assert caches["default"].get("throttle_token_198.51.100.7") == [1.0]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS t_cache")


def test_with_a_memory_cache_it_creates_nothing():
    before = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        cache_tables.create_cache_tables(None, editor)

    assert set(connection.introspection.table_names()) == before
