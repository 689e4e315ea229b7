"""Migrations 0009 and 0010: the open entries a firm already has, several per record, fold into one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("ingestion", "0008_unsearched_history_keys_unindexed")]
AFTER = [("ingestion", "0010_quarantine_one_open_per_record_constraint")]


@pytest.mark.django_db(transaction=True)
def test_each_records_open_duplicates_fold_into_its_latest_entry_dated_from_the_first(team):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Source = apps.get_model("ingestion", "Source")
    Quarantined = apps.get_model("ingestion", "QuarantinedRecord")
    source = Source.objects.create(key="crm", name="CRM", kind="hubspot", default_team_id=team.pk)
    start = timezone.now() - timedelta(days=3)
    for day, record_id, status in [
        (0, "7", "open"),
        (1, "7", "open"),
        (2, "7", "open"),
        (0, "8", "open"),
        (1, "9", "dismissed"),
        (2, "9", "open"),
        (0, "", "open"),
        (1, "", "open"),
    ]:
        Quarantined.objects.create(
            source=source,
            record_id=record_id,
            raw={"id": record_id, "day": day},
            reason=f"day {day}",
            status=status,
            created_at=start + timedelta(days=day),
        )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    from ingestion.models import QuarantinedRecord

    rows = QuarantinedRecord.objects.order_by("record_id", "created_at")
    open_rows = {(row.record_id, row.reason, row.times_seen) for row in rows.filter(status="open")}
    assert open_rows == {("7", "day 2", 3), ("8", "day 0", 1), ("9", "day 2", 1), ("", "day 0", 1), ("", "day 1", 1)}
    seven = rows.get(record_id="7", status="open")
    assert (seven.created_at, seven.seen_at) == (start, start + timedelta(days=2))
    assert seven.raw == {"id": "7", "day": 2}
    assert list(rows.filter(status="superseded").values_list("reason", flat=True)) == ["day 0", "day 1"]
    assert rows.get(record_id="9", status="dismissed").times_seen == 1
