"""python manage.py sync_source <key>: one sync of one source, in this process, with its counts."""

from django.core.management.base import BaseCommand, CommandError

from ingestion.connectors.base import SourceError
from ingestion.models import SyncRun
from ingestion.services.sync import source_sync

from ._sources import source_named


class Command(BaseCommand):
    help = "Run one incremental sync of a source now and print what it fetched, created, updated and quarantined."

    def add_arguments(self, parser):
        parser.add_argument("key", help="the source's key, e.g. crm")

    def handle(self, *args, key, **options):
        source = source_named(key)
        try:
            run = source_sync(source_id=source.pk, trigger=SyncRun.Trigger.MANUAL)
        except SourceError as error:
            raise CommandError(f"Sync of {key} failed: {type(error).__name__}: {error}") from error
        self.stdout.write(
            f"{source.name}: {run.get_status_display()} in {run.duration_seconds:.1f} s; "
            f"fetched {run.fetched}, created {run.created}, updated {run.updated}, unchanged {run.unchanged}, "
            f"deleted {run.deleted}, quarantined {run.quarantined}, to review {run.in_review}, failed {run.failed}."
        )
        if run.error:
            self.stdout.write(self.style.WARNING(run.error))
