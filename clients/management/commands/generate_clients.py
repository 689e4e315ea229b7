"""Generate synthetic clients for load tests and demos: `generate_clients --count N --seed S`."""

from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries

from clients.generation import DEFAULT_BATCH_SIZE, REGION_TEAMS, books_ensure, clients_generate


class Command(BaseCommand):
    help = (
        "Make sure COUNT generated clients of SEED exist, with households, family and every kind of "
        "product, written in bulk per batch. Running it again adds only what is missing. Clients go to "
        "Team Noord or Team Zuid by postcode (the teams are created if missing) and are spread over "
        "each team's active members; a team without members leaves its clients without an advisor."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="how many generated clients there should be")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same clients (default 1)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"clients per batch and transaction (default {DEFAULT_BATCH_SIZE:,})",
        )
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="the reference day every date hangs off, YYYY-MM-DD (default: today)",
        )

    def handle(self, *args, count, seed, batch_size, today, **options):
        if count < 0 or batch_size < 1:
            raise CommandError("--count must be 0 or more and --batch-size at least 1.")
        books = books_ensure()
        for region, book in books.items():
            names = ", ".join(advisor.name for advisor in book.advisors) or "no advisor"
            self.stdout.write(f"{REGION_TEAMS[region]}: {names}")
        method = "COPY" if connection.vendor == "postgresql" else "bulk_create"
        self.stdout.write(f"Generating up to {count:,} clients (seed {seed}) with {method}, {batch_size:,} per batch.")

        def progress(report):
            # With DEBUG on, Django keeps every query; a long run must not hoard them.
            if settings.DEBUG:
                reset_queries()
            self.stdout.write(
                f"  {report.existing_clients + report.clients:,}/{count:,} clients, "
                f"{report.total_rows:,} rows, {report.seconds:.1f} s"
            )

        report = clients_generate(
            count=count, seed=seed, books=books, today=today, batch_size=batch_size, on_batch=progress
        )
        if report.existing_clients:
            self.stdout.write(f"{report.existing_clients:,} clients of seed {seed} were already there.")
        if not report.clients:
            self.stdout.write("Nothing to create.")
            return
        seconds = max(report.seconds, 1e-9)
        self.stdout.write("Rows created per table:")
        for model_name, rows in sorted(report.rows.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {model_name:<18} {rows:>12,}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {report.clients:,} clients in {report.households:,} households, "
                f"{report.total_rows:,} rows in all, in {report.seconds:.1f} s: "
                f"{report.clients / seconds:,.0f} clients/s, {report.total_rows / seconds:,.0f} rows/s."
            )
        )
