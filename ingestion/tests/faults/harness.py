"""Real processes for the fault tests: Celery workers, a throwaway PostgreSQL cluster, a Redis.

Everything runs on 127.0.0.1 and is stopped by the test that started it (by process id, never by
name). The machine's shared PostgreSQL on 5432 is never restarted: the restart scenario starts its
own cluster with initdb/pg_ctl in a temporary directory, on a free port.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PYTHON = sys.executable
CELERY = str(Path(sys.executable).with_name("celery"))
PG_BIN = Path(os.environ.get("STEWARD_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Sizes: `make soak` sets STEWARD_SOAK=1 for the long variants.
SOAK = os.environ.get("STEWARD_SOAK", "") not in ("", "0", "false")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url(db_settings: dict | None = None) -> str:
    """The URL of the database the tests run on (pytest-django's test database, by its real name)."""
    db = db_settings or settings.DATABASES["default"]
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{port}/{db['NAME']}"


# --- Celery workers -------------------------------------------------------------------------------


class CeleryWorker:
    """`celery -A config worker` as a child process, with its own broker and database.

    `standby()` launches it loaded but idle (standby_worker.py); `start()` lets it take work (and
    launches it first if it was not yet). Loading is most of a worker's start-up, so a test that
    replaces killed workers loads the next one while the current one works (`WorkerRelay`).
    """

    def __init__(self, *, redis_url: str, database_url: str, name: str = "faults", extra_env: dict | None = None):
        self.redis_url, self.database_url, self.name = redis_url, database_url, name
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"worker-{name}-", suffix=".log")[1])

    def standby(self) -> CeleryWorker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ingestion.tests.faults.worker_settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "ingestion.tests.faults.standby_worker",
                "--pool=solo",  # the process doing the work is the one we kill
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname={self.name}-{time.monotonic_ns()}@127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def start(self) -> CeleryWorker:
        if self.process is None:
            self.standby()
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b"go\n")  # waits in the pipe if the worker is still loading
        self.process.stdin.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, no lock released; as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # a spare never started: it reads the end of input and leaves
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


class WorkerRelay:
    """Workers that take over from one another (a test kills each but the last): while one works,
    the next is already loaded, so a replacement takes work at once instead of seconds later."""

    def __init__(self, count: int, **options) -> None:
        self.remaining, self.options = count, options
        self.started: list[CeleryWorker] = []
        self.spare: CeleryWorker | None = CeleryWorker(**options).standby() if count else None

    def start_next(self) -> CeleryWorker:
        assert self.spare is not None, "every worker of the relay was started"
        worker = self.spare.start()
        self.started.append(worker)
        self.remaining -= 1
        self.spare = CeleryWorker(**self.options).standby() if self.remaining else None
        return worker

    def stop(self) -> None:
        for worker in [*self.started, *([self.spare] if self.spare else [])]:
            worker.stop()

    def __enter__(self) -> WorkerRelay:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def send_task(redis_url: str, name: str, *args) -> None:
    """Put a task on the worker's broker, as beat or a web process would (this process runs eagerly)."""
    from kombu import Connection

    from config.celery import app

    with Connection(redis_url) as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "task_always_eager has no effect on send_task": that is the point
        app.send_task(name, args=list(args), connection=connection)


def redis_flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# --- A throwaway PostgreSQL cluster ---------------------------------------------------------------


class ThrowawayPostgres:
    """Our own PostgreSQL (initdb, pg_ctl) on a free port: restarted with `-m immediate` at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="steward-pg-"))
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> ThrowawayPostgres:
        if self.user:
            uid = pwd.getpwnam(self.user)
            os.chown(self.root, uid.pw_uid, uid.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = on\nmax_connections = 50\nshared_buffers = 64MB\n"
            )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")
        return self

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/steward_faults"

    def restart_immediately(self) -> None:
        """A crash: no checkpoint, every connection cut; recovery replays the WAL on start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "restart", "-l", str(self.root / "log"))

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-At", "-c", sql
        ).stdout


class ThrowawayRedis:
    """Our own redis-server on a free port, without persistence: a restart or flush loses the queue."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        wait_until(lambda: self._ping(redis), timeout=10, what="redis-server")
        return self

    def _ping(self, redis) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- Comparing the unified view -------------------------------------------------------------------


def _plain(value):
    if isinstance(value, Decimal):
        return str(value.normalize())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# Ids and fetch times differ by run; `source_changed_at` of a row is its origin when it was created
# (recompute._seed_row_provenance), so a client first seen before an update keeps the older one.
SKIPPED_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "fetched_at",
    "provenance",
    "household",
    "search_name",
    "source_changed_at",
}


def unified_snapshot() -> dict:
    """The unified view of every source record, keyed by record id, without ids or fetch times.

    Two runs over the same source state must give equal snapshots however they were interrupted:
    the same records, values, change times and deletions; the same clients with the same fields,
    incomes and loan parts; nothing twice.
    """
    from clients.models import Client, Income, LoanPart
    from ingestion.models import QuarantinedRecord, SourceRecord

    client_fields = [f.attname for f in Client._meta.concrete_fields if f.name not in SKIPPED_FIELDS]
    clients = {row["id"]: row for row in Client.objects.values("id", *client_fields)}
    incomes: dict[int, list] = {}
    for client_id, amount in Income.objects.values_list("client_id", "gross_annual_amount"):
        incomes.setdefault(client_id, []).append(_plain(amount))
    loan_parts: dict[int, list] = {}
    for client_id, end in LoanPart.objects.values_list("mortgage__client_id", "fixed_rate_end_date"):
        loan_parts.setdefault(client_id, []).append(_plain(end))
    records = {}
    for record in SourceRecord.objects.values(
        "source_key", "record_id", "values", "content_hash", "changed_at", "deleted_at", "client_id"
    ):
        client = clients.get(record["client_id"])
        key = f"{record['source_key']}:{record['record_id']}"
        assert key not in records, f"{key} stored twice"
        records[key] = {
            "values": record["values"],
            "hash": record["content_hash"],
            "changed_at": _plain(record["changed_at"]),
            "deleted": record["deleted_at"] is not None,
            "client": None
            if client is None
            else {
                **{name: _plain(client[name]) for name in client_fields if name != "deleted_at"},
                "deleted": client["deleted_at"] is not None,
                "incomes": sorted(incomes.get(client["id"], []), key=str),
                "loan_parts": sorted(loan_parts.get(client["id"], []), key=str),
            },
        }
    return {
        "records": records,
        "clients": Client.objects.count(),
        "quarantined_open": sorted(
            QuarantinedRecord.objects.filter(status="open").values_list("record_id", flat=True).distinct()
        ),
    }


def snapshot_difference(expected: dict, actual: dict, limit: int = 5) -> list[str]:
    """Readable findings: records missing, extra or different (the first few of each)."""
    findings = []
    missing = sorted(set(expected["records"]) - set(actual["records"]))
    # A record the source deleted while we were syncing is kept soft-deleted; a clean sync after the
    # deletion never saw it. That is the one difference allowed.
    extra = sorted(
        key for key in set(actual["records"]) - set(expected["records"]) if not actual["records"][key]["deleted"]
    )
    if missing:
        findings.append(f"{len(missing)} records missing, e.g. {missing[:limit]}")
    if extra:
        findings.append(f"{len(extra)} records extra, e.g. {extra[:limit]}")
    different = [
        key
        for key in sorted(set(expected["records"]) & set(actual["records"]))
        if expected["records"][key] != actual["records"][key]
    ]
    for key in different[:limit]:
        want, got = expected["records"][key], actual["records"][key]
        fields = sorted(name for name in set(want) | set(got) if want.get(name) != got.get(name))
        shown = {name: (want.get(name), got.get(name)) for name in fields if name != "client"}
        if "client" in fields and want.get("client") and got.get("client"):
            shown.update(
                {
                    f"client.{name}": (want["client"].get(name), got["client"].get(name))
                    for name in set(want["client"]) | set(got["client"])
                    if want["client"].get(name) != got["client"].get(name)
                }
            )
        findings.append(f"{key} differs (expected, actual): {json.dumps(shown, default=str)[:600]}")
    if len(different) > limit:
        findings.append(f"... and {len(different) - limit} more records differ")
    if expected["clients"] != actual["clients"] - len(set(actual["records"]) - set(expected["records"])):
        findings.append(f"{actual['clients']} clients, expected {expected['clients']}")
    return findings


def unified_view_clear(source) -> None:
    """Forget everything a source brought (clients, records, runs), so a clean sync can start over."""
    from django.db import connection

    from clients.models import Client
    from ingestion.models import QuarantinedRecord, Source, SourceRecord, SyncRun, TaskAttempt

    if connection.vendor == "postgresql":
        # One statement, whatever the size (a delete per client would also write audit history).
        tables = [model._meta.db_table for model in (Client, SourceRecord, QuarantinedRecord, SyncRun, TaskAttempt)]
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # inside a test's transaction: fire them first
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    else:
        for model in (Client, SourceRecord, QuarantinedRecord, SyncRun, TaskAttempt):
            model.objects.all().delete()
    Source.objects.filter(pk=source.pk).update(
        watermark=None,
        resume_cursor="",
        resume_since=None,
        resume_high_water=None,
        lock_token="",
        locked_at=None,
        health=Source.Health.NEW,
        parked_until=None,
        consecutive_failures=0,
    )


def seeded_points(seed: int, count: int, low: int, high: int) -> list[int]:
    """`count` distinct page numbers in [low, high], sorted: where the faults strike, replayable by seed."""
    return sorted(random.Random(seed).sample(range(low, high + 1), count))


def with_unique_emails(contacts: list[dict]) -> list[dict]:
    """The same people, each with an email of their own.

    Generated people sometimes share a name and an email; whether two such records become one
    client depends on whether they land in the same sync batch (records of one batch are not
    matched with each other). That is a finding of its own
    (test_matching_does_not_depend_on_where_batches_fall); the other scenarios use unique emails
    so they test exactly what they claim.
    """
    unique = []
    for contact in contacts:
        local, _, domain = (contact.get("email") or "x@example.nl").partition("@")
        unique.append({**contact, "email": f"{local}+{contact['hs_object_id']}@{domain}"})
    return unique
