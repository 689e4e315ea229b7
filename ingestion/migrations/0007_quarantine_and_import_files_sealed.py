"""Quarantined payloads and uploaded files encrypted at rest (trust.privacy_sealed).

The column of `raw` becomes text (one ciphertext per record); the rows already there are sealed
here, their reasons masked. Going back writes them in plain text again, as they were.
"""

import json

from django.db import migrations

import trust.privacy_sealed

BATCH = 500


def seal_existing(apps, schema_editor):
    # The fields read plain (older) values as they are and seal whatever they write.
    QuarantinedRecord = apps.get_model("ingestion", "QuarantinedRecord")
    FileImport = apps.get_model("ingestion", "FileImport")
    batch = []
    for record in QuarantinedRecord.objects.order_by("pk").iterator(chunk_size=BATCH):
        batch.append(record)
        if len(batch) == BATCH:
            QuarantinedRecord.objects.bulk_update(batch, ["raw", "raw_text", "reason"])
            batch = []
    QuarantinedRecord.objects.bulk_update(batch, ["raw", "raw_text", "reason"])
    for file_import in FileImport.objects.filter(content__isnull=False).iterator(chunk_size=10):
        file_import.save(update_fields=["content"])


def unseal_existing(apps, schema_editor):
    QuarantinedRecord = apps.get_model("ingestion", "QuarantinedRecord")
    FileImport = apps.get_model("ingestion", "FileImport")
    quarantine = schema_editor.quote_name(QuarantinedRecord._meta.db_table)
    files = schema_editor.quote_name(FileImport._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        for record in QuarantinedRecord.objects.order_by("pk").iterator(chunk_size=BATCH):
            cursor.execute(
                f"UPDATE {quarantine} SET raw = %s, raw_text = %s WHERE id = %s",  # noqa: S608 (a quoted table name)
                [None if record.raw is None else json.dumps(record.raw), record.raw_text, record.pk],
            )
        for file_import in FileImport.objects.filter(content__isnull=False).iterator(chunk_size=10):
            cursor.execute(
                f"UPDATE {files} SET content = %s WHERE id = %s",  # noqa: S608 (a quoted table name)
                [file_import.content, file_import.pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0006_drop_duplicate_record_client_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="fileimport",
            name="content",
            field=trust.privacy_sealed.SealedBinaryField(null=True),
        ),
        migrations.AlterField(
            model_name="quarantinedrecord",
            name="raw",
            field=trust.privacy_sealed.SealedJSONField(null=True),
        ),
        migrations.AlterField(
            model_name="quarantinedrecord",
            name="raw_text",
            field=trust.privacy_sealed.SealedTextField(
                blank=True, help_text="The record as received, when it was not even JSON."
            ),
        ),
        migrations.AlterField(
            model_name="quarantinedrecord",
            name="reason",
            field=trust.privacy_sealed.MaskedTextField(),
        ),
        migrations.RunPython(seal_existing, unseal_existing),
    ]
