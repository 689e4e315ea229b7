"""Derive the facts of every client (or of some): `refresh_facts [--client ID ...] [--chunk-size N]`."""

from django.core.management.base import BaseCommand

from enrichment.services import facts_refresh
from enrichment.services.facts import CHUNK_SIZE


class Command(BaseCommand):
    help = "Derive every client's facts (ClientFacts) with all enrichment providers, in chunks, set-based."

    def add_arguments(self, parser):
        parser.add_argument(
            "--client", type=int, action="append", dest="client_ids", help="only this client (repeatable)"
        )
        parser.add_argument(
            "--chunk-size", type=int, default=CHUNK_SIZE, help=f"clients per chunk (default {CHUNK_SIZE:,})"
        )

    def handle(self, *args, client_ids, chunk_size, **options):
        report = facts_refresh(client_ids=client_ids, chunk_size=chunk_size)
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.clients:,} clients in {report.chunks} chunk(s), {report.seconds:.1f} s "
                f"({report.clients_per_second:,.0f} clients/s); failures: {report.failures or 'none'}"
            )
        )
