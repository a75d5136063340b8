"""Create the table of every database cache in CACHES (production's throttle counts), so that
`migrate` is the one step a deployment runs. Idempotent, like `createcachetable` itself; with
local-memory or Redis caches (development, tests) it does nothing."""

from django.core.management import call_command
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def create_cache_tables(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop, elidable=False)]
