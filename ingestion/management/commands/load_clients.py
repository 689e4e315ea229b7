"""python manage.py load_clients <source> <file.csv> --team NAME: a whole book of clients at COPY speed."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from accounts.models import Team
from clients.audit_hook import written_by
from ingestion.services.bulk_load import BulkLoadError, source_file_bulk_load

from ._sources import source_named


class Command(BaseCommand):
    help = (
        "Load a CSV of clients (any number of rows) with the column mapping of a file source, through "
        "the staging-table bulk load; rows that cannot be read are quarantined with their reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="the key of a file source whose mapping a first file import set")
        parser.add_argument("path", help="a CSV file (UTF-8 or Windows-1252; ; , or tab)")
        parser.add_argument("--team", required=True, help="the team new clients join, by name")
        parser.add_argument("--reason", default="", help="why, for the audit trail")

    def handle(self, *args, source, path, team, reason, **options):
        file_source = source_named(source)
        try:
            team_id = Team.objects.get(name=team).pk
        except Team.DoesNotExist as error:
            known = ", ".join(Team.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No team {team!r}. Teams: {known}.") from error
        try:
            with written_by(reason=reason or f"bulk load of {path}"):
                report = source_file_bulk_load(source=file_source, path=path, team_id=team_id)
        except (BulkLoadError, OSError) as error:
            raise CommandError(f"Nothing more was loaded: {error}") from error
        except DatabaseError as error:
            raise CommandError(
                f"The database refused a batch: {error}. The batches before it are loaded; loading the "
                "file again leaves them as they are and goes on."
            ) from error
        load = report.load
        rate = load.rows / load.seconds if load.seconds else 0
        self.stdout.write(
            f"{file_source.name}: {load.rows:,} rows in {load.seconds:.1f} s ({rate:,.0f} rows/s); "
            f"created {load.created:,}, updated {load.updated:,}, unchanged {load.unchanged:,}; "
            f"quarantined {report.quarantined:,}."
        )
        if report.resolved:
            self.stdout.write(
                f"Rows quarantined before that landed this time, their entries resolved: {report.resolved:,}."
            )
        if report.left_out:
            left_out = ", ".join(report.left_out)
            self.stdout.write(
                self.style.WARNING(
                    f"Not loaded (not client fields; the file import or a sync writes them): {left_out}."
                )
            )
        if report.quarantined:
            self.stdout.write(
                self.style.WARNING(
                    "Quarantined rows are on the Sources page (and in the admin), one entry per record however "
                    "often it was loaded."
                )
            )
