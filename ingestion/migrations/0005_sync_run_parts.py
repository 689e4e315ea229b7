# A partitioned full sync keeps one resume cursor per range (services/sync_partitions.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0004_reconcile_schedule"),
    ]

    operations = [
        migrations.CreateModel(
            name="SyncRunPart",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.PositiveSmallIntegerField()),
                ("start_cursor", models.TextField(blank=True)),
                ("cursor", models.TextField(blank=True)),
                ("high_water", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("lock_token", models.CharField(max_length=36)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="parts", to="ingestion.syncrun"
                    ),
                ),
            ],
            options={
                "verbose_name": "sync run part",
                "verbose_name_plural": "sync run parts",
                "ordering": ["run", "index"],
                "constraints": [models.UniqueConstraint(fields=("run", "index"), name="sync_run_part_unique")],
            },
        ),
    ]
