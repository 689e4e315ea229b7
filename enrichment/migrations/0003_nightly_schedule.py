import json

from django.db import migrations

# Nightly, after the sources' deletion checks (02:30): derived values are computed for the whole book,
# and confirmation links past their date are marked expired. Both can be paused in admin.
TASKS = [
    ("Refresh derived values (nightly)", "enrichment.tasks.refresh_all_facts", "15", "3"),
    ("Expire confirmation links (nightly)", "enrichment.tasks.expire_confirmation_requests", "5", "3"),
]


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute, hour in TASKS:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="Europe/Amsterdam",
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "args": json.dumps([]), "enabled": True}
        )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("enrichment", "0002_reference_data_freshness_and_confirmations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
