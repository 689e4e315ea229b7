"""A trigram index for substring search on client names (PostgreSQL only).

`search_name LIKE '%jansen%'` cannot use a b-tree; with pg_trgm's GIN index it stays quick at a
million clients. SQLite (the demo default) simply scans.
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS client_search_name_trgm ON clients_client USING gin (search_name gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS client_search_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("clients", "0001_unified_client_view")]

    operations = [migrations.RunPython(create_index, drop_index)]
