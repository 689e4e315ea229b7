"""The benchmark database: (re)created, migrated and filled with the generated book; runs rolled back.

Every timed run happens inside a transaction that is rolled back afterwards, so each run starts
from exactly the same database (the book of generated clients, nothing of earlier runs) without
slow clean-ups between runs. Inside it, deferred constraints are made immediate: the foreign keys
a commit would check are checked while the run is timed, as they are in production.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

from django.db import connection, transaction


class _RolledBack(Exception):
    pass


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """Run the block in a transaction (or savepoint) that is always rolled back."""
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            yield
            raise _RolledBack
    except _RolledBack:
        pass


@contextlib.contextmanager
def committed() -> Iterator[None]:
    """Run the block in a transaction that commits, with the foreign keys checked as `rolled_back`
    checks them (while the block runs): a last run whose result the next scenarios start from."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield


class HeldTransaction:
    """A transaction opened in a scenario's setup and rolled back in its teardown.

    For state that every run starts from but that must not outlive the scenario (a first sync
    whose second runs are measured); each run then rolls back to it with `rolled_back()`.
    """

    def __init__(self) -> None:
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def roll_back(self) -> None:
        self._atomic.__exit__(_RolledBack, _RolledBack(), None)


def vacuum_analyze(*tables: str) -> None:
    """Fresh planner statistics (and no dead rows of earlier runs) before measuring; PostgreSQL only.

    Without statistics a table just filled by COPY looks tiny to the planner, which then scans
    it whole for lookups an index serves (matching's blocking query did, 150 ms a batch).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}" if tables else "VACUUM ANALYZE")


def database_recreate(database_url: str, log: Callable[[str], None]) -> None:
    """Drop and create the PostgreSQL database of `database_url` (its name must contain "bench")."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate {name!r}: a benchmark database's name contains 'bench'")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    log(f"Created database {name}.")


def database_migrate(log: Callable[[str], None]) -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"Migrated in {time.perf_counter() - started:.0f} s.")


def book_ensure(size: int, log: Callable[[str], None]) -> None:
    """Make sure the generated book holds `size` clients (generate_clients tops up what is missing)."""
    from django.core.management import call_command

    from clients.generation import generated_clients

    present = generated_clients(seed=1).count()
    if present >= size:
        return
    started = time.perf_counter()
    log(f"Generating {size - present:,} clients (generate_clients --count {size})...")
    call_command("generate_clients", count=size, seed=1, stdout=_Quiet())
    log(f"Generated the book in {time.perf_counter() - started:.0f} s.")
    vacuum_analyze()


class _Quiet:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
