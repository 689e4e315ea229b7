from django.db import migrations

# Every five minutes the reconciler re-enqueues what PostgreSQL says is due (syncs interrupted or
# overdue; later steps add theirs), so work lost with Redis is picked up again. Pausable in admin.
NAME = "Reconcile due work (every 5 minutes)"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "ingestion.tasks.reconcile_due_work", "interval": every_five, "args": "[]", "enabled": True},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_task_attempts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
