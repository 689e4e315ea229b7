"""Fingerprints become md5 of the material values as PostgreSQL writes jsonb text
(`alerts.services.Finding.fingerprint`), so the framework's SQL path computes them in the database.

Recomputed here for every alert (live ones, so a first run after this does not rewrite them all;
dismissed ones, so a dismissal keeps suppressing the same values).
"""

import hashlib
import json

from django.db import migrations

BATCH = 2_000


def _jsonb_text(value) -> str:
    """As alerts.services.jsonb_text (a migration keeps its own copy)."""
    if isinstance(value, dict):
        items = sorted(
            ((str(key), item) for key, item in value.items()), key=lambda p: (len(p[0].encode()), p[0].encode())
        )
        return (
            "{" + ", ".join(f"{json.dumps(key, ensure_ascii=False)}: {_jsonb_text(item)}" for key, item in items) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_jsonb_text(item) for item in value) + "]"
    if value is None or isinstance(value, str | bool | int | float):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


def values_fingerprint(material: dict) -> str:
    return hashlib.md5(_jsonb_text(material).encode(), usedforsecurity=False).hexdigest()


def fingerprints_recompute(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE alerts_alert SET values_fingerprint = md5(CAST(COALESCE(
                    (SELECT jsonb_object_agg(key, value) FROM jsonb_each("values") WHERE key NOT LIKE %s),
                    '{}'::jsonb) AS text))
                WHERE jsonb_typeof("values") = 'object'""",
                ["days\\_%"],
            )
        return
    Alert = apps.get_model("alerts", "Alert")
    changed = []
    for alert in Alert.objects.only("pk", "values").iterator(chunk_size=BATCH):
        values = alert.values if isinstance(alert.values, dict) else {}
        alert.values_fingerprint = values_fingerprint(
            {key: value for key, value in values.items() if not key.startswith("days_")}
        )
        changed.append(alert)
        if len(changed) >= BATCH:
            Alert.objects.bulk_update(changed, ["values_fingerprint"])
            changed = []
    Alert.objects.bulk_update(changed, ["values_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_new_urgent_badge_index")]

    operations = [migrations.RunPython(fingerprints_recompute, migrations.RunPython.noop)]
