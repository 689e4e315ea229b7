"""The demo book: generated clients for `manage.py setup_demo`."""

from django.conf import settings
from django.db import transaction

from .generation import NORTH, SOUTH, books_ensure, clients_generate

DEMO_SEED = 42
# The demo advisors of accounts.services.DEMO_USERS: each gets the clients of their own team.
DEMO_ADVISORS = {NORTH: ["advisor"], SOUTH: ["advisor2"]}


def demo_clients_load(*, stdout) -> None:
    """Load settings.STEWARD_DEMO_CLIENTS generated clients (seed 42) for Team Noord and Team Zuid.

    Safe to run again: generation goes on after the demo clients already there, so a second run adds
    nothing, and raising STEWARD_DEMO_CLIENTS tops the book up. One transaction, so a failed load
    leaves no half book behind. Runs after accounts.services.demo_users_ensure, so the two demo
    advisors exist; without them the clients go to the teams' other members, or to no advisor.
    """
    books = books_ensure(advisor_usernames=DEMO_ADVISORS)
    with transaction.atomic():
        report = clients_generate(count=settings.STEWARD_DEMO_CLIENTS, seed=DEMO_SEED, books=books)
    if report.clients:
        stdout.write(
            f"Demo clients: {report.clients:,} created with their households and products "
            f"({report.total_rows:,} rows in {report.seconds:.1f} s)."
        )
    else:
        stdout.write(f"Demo clients: {report.existing_clients:,} already loaded.")
