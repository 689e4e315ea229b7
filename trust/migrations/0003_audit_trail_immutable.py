"""The audit trail cannot be changed: on PostgreSQL every trust history table refuses UPDATE, DELETE
and TRUNCATE (a trigger; see trust.audit). Elsewhere (the embedded SQLite demo) nothing happens.

History tables added by later migrations are protected after every migrate (trust/apps.py).
"""

from django.db import migrations


def install(apps, schema_editor):
    from trust.audit import audit_triggers_install

    audit_triggers_install()


def remove(apps, schema_editor):
    from trust.audit import audit_triggers_remove

    audit_triggers_remove()


class Migration(migrations.Migration):
    dependencies = [("trust", "0002_audit_trail_history_and_runs")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
