"""The advisor's dashboard over HTTP with a million open alerts: first page, and with a filter.

A real server process (gunicorn, two workers, production settings: benchmarks/server_settings.py)
serves the bench database; a logged-in advisor's session cookie is sent by an httpx client, one
request after another. The book's own alerts come from a committed full evaluation; alerts of
stand-in types ("bench_filler_N", random priorities and due dates, assigned like real ones) top
the live alerts up to `dashboard_alerts` (default 1,000,000); with `dashboard_filler_only` they
are all stand-ins (no evaluation first). The top-50 query is also timed in
the database itself, with EXPLAIN ANALYZE.

In the test suite (not isolated: the book lives in an open transaction no server could see) the
same requests go through Django's test client in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count
from django.test import Client as DjangoClient
from django.utils import timezone

from accounts.models import Team
from alerts.models import Alert, AlertType, Quadrant
from alerts.selectors import AlertFilters, alert_queue, queue_ordered
from clients.models import Client

from ..database import vacuum_analyze
from ..registry import Context, Measurement, scenario
from .framework import alerts_clear, evaluation_committed, facts_ensure

DASHBOARD_ALERTS = 1_000_000
REQUESTS = 200
ADVISOR = "bench-advisor"
URL = "/dashboard/"
FILTERED = "/dashboard/?quadrant=urgent_sensitive&due=90"
FILTER_DAYS = 90
FILLER_PREFIX = "bench_filler_"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def web_server():
    """gunicorn serving Steward against this database; yields its base URL."""
    port = _free_port()
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.server_settings"}
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=environment)  # noqa: S603 - our own app
    base_url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _attempt in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code < 600:
                    break
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _advisor():
    team = Team.objects.get_or_create(name="Team Noord")[0]
    user, _created = get_user_model().objects.get_or_create(
        username=ADVISOR, defaults={"team": team, "first_name": "Bench"}
    )
    user.groups.add(Group.objects.get(name="Advisor"))
    return user


def _top_up(target: int, advisor_id: int, team_id: int) -> int:
    """Live alerts of stand-in types until there are `target`; returns how many were added."""
    live = Alert.objects.filter(status__in=Alert.LIVE_STATUSES).count()
    clients = max(1, connection.cursor().execute("SELECT count(*) FROM clients_client").fetchone()[0])
    missing = target - live
    if missing <= 0:
        return 0
    types = -(-missing // clients)
    ids = [AlertType.objects.get_or_create(key=f"{FILLER_PREFIX}{n}", defaults={"name": f"Filler {n}"})[0].pk
           for n in range(1, types + 1)]  # fmt: skip
    if connection.vendor != "postgresql":  # the test suite's tiny book: the same rows, by the ORM
        rows = [
            Alert(alert_type_id=type_id, client_id=client_id, team_id=client_team, priority=client_id % 21 * 5,
                  assigned_to_id=advisor_id if client_team == team_id else client_advisor, message="Stand-in alert")
            for type_id in ids
            for client_id, client_team, client_advisor in Client.objects.values_list("pk", "team_id", "advisor_id")
        ][:missing]  # fmt: skip
        return len(Alert.objects.bulk_create(rows))
    with connection.cursor() as cursor:
        # Priorities as the canvas gives them (a few dozen cards: multiples of 5), due dates over two years.
        cursor.execute(
            """
            INSERT INTO alerts_alert (alert_type_id, segment, client_id, team_id, assigned_to_id, message, "values",
                explanation, granulation, values_fingerprint, due_date, priority, quadrant, status,
                status_reason, opened_at, updated_at)
            SELECT t.id, '', c.id, c.team_id, CASE WHEN c.team_id = %s THEN %s ELSE c.advisor_id END,
                'Stand-in alert for the dashboard benchmark', '{}', '[]', '{}', '',
                CASE WHEN random() < 0.3 THEN NULL ELSE current_date + (random() * 730)::int - 30 END,
                (random() * 20)::int * 5,
                (ARRAY['urgent_sensitive', 'urgent_routine', 'later_sensitive', 'later_routine'])
                    [1 + (random() * 3)::int],
                'open', '', now(), now()
            FROM clients_client c CROSS JOIN unnest(%s::bigint[]) AS t(id)
            LIMIT %s
            """,
            [team_id, advisor_id, ids, missing],
        )
        return cursor.rowcount


@dataclass
class _DashboardState:
    advisor: object
    live_alerts: int
    advisor_alerts: int
    server: contextlib.ExitStack | None = None
    base_url: str = ""
    cookie: str = ""
    filtered_path: str = FILTERED


def _filtered_path(advisor) -> str:
    """The filtered page: a quadrant and "due within 3 months", where the advisor has alerts.

    Urgent and advice-sensitive when the advisor has such alerts due within 3 months; otherwise the
    quadrant with most of them. At a million clients every alert is the evaluation's own and the
    canvas may have placed none in the urgent quadrants: an empty page measures nothing.
    """
    live = Alert.objects.filter(status__in=Alert.LIVE_STATUSES, assigned_to=advisor)
    soon = live.filter(due_date__lte=timezone.localdate() + timedelta(days=FILTER_DAYS))
    if soon.filter(quadrant=Quadrant.URGENT_SENSITIVE).exists():
        return FILTERED
    if (quadrant := _busiest_quadrant(soon)) is not None:
        return f"/dashboard/?quadrant={quadrant}&due={FILTER_DAYS}"
    if (quadrant := _busiest_quadrant(live)) is not None:
        return f"/dashboard/?quadrant={quadrant}"
    return FILTERED


def _busiest_quadrant(alerts) -> str | None:
    busiest = alerts.values("quadrant").annotate(alerts=Count("pk")).order_by("-alerts").first()
    return busiest["quadrant"] if busiest is not None else None


def _dashboard_setup(context: Context) -> _DashboardState:
    # `"dashboard_filler_only": true` skips the book's own alerts (a full evaluation, minutes at a
    # million clients) and fills the million with stand-in alerts alone: the page reads the same rows.
    filler_only = bool(context.options.get("dashboard_filler_only"))
    if not filler_only:
        facts_ensure(context.log)
    advisor = _advisor()
    if not filler_only:
        evaluation_committed(context)  # the steady-state scenario's, when it ran before this one
    # Team Noord's alerts are the bench advisor's: the generated book has no advisors of its own.
    Alert.objects.filter(team_id=advisor.team_id, status__in=Alert.LIVE_STATUSES).exclude(assigned_to=advisor).update(
        assigned_to=advisor
    )
    target = int(context.options.get("dashboard_alerts", DASHBOARD_ALERTS if context.isolated else 1_000))
    added = _top_up(target, advisor.pk, advisor.team_id)
    if added:
        context.log(f"  added {added:,} stand-in alerts")
    vacuum_analyze("alerts_alert")
    state = _DashboardState(
        advisor=advisor,
        live_alerts=Alert.objects.filter(status__in=Alert.LIVE_STATUSES).count(),
        advisor_alerts=Alert.objects.filter(status__in=Alert.LIVE_STATUSES, assigned_to=advisor).count(),
    )
    state.filtered_path = _filtered_path(advisor)
    if context.isolated:
        browser = DjangoClient()
        browser.force_login(advisor)
        state.cookie = browser.cookies["sessionid"].value
        state.server = contextlib.ExitStack()
        state.base_url = state.server.enter_context(web_server())
    return state


def _dashboard_teardown(context: Context, state: _DashboardState) -> None:
    if state.server is not None:
        state.server.close()
    alerts_clear()  # the next scenario starts from the book without alerts
    AlertType.objects.filter(key__startswith=FILLER_PREFIX).delete()


def _timed_requests(state: _DashboardState, path: str, count: int) -> list[float]:
    timings = []
    if state.server is None:
        browser = DjangoClient()
        browser.force_login(state.advisor)
        for _number in range(count):
            started = time.perf_counter()
            response = browser.get(path)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        return timings
    import httpx

    with httpx.Client(base_url=state.base_url, cookies={"sessionid": state.cookie}, timeout=30) as http:
        http.get(path)  # each worker's first request loads templates and translations: not a steady figure
        http.get(path)
        for _number in range(count):
            started = time.perf_counter()
            response = http.get(path)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200 or 'data-alert="' not in response.text:
                raise RuntimeError(f"the dashboard answered {response.status_code} without alerts")
    return timings


def _percentile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def top50_explain(advisor, runs: int = 20) -> dict:
    """The first page's query as the dashboard runs it, timed by PostgreSQL (EXPLAIN ANALYZE)."""
    if connection.vendor != "postgresql":
        return {}
    queue = alert_queue(user=advisor, filters=AlertFilters(scope="mine"))
    sql, params = queue_ordered(queue)[:51].query.sql_with_params()
    times, plan = [], ""
    with connection.cursor() as cursor:
        for _number in range(runs):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            document = cursor.fetchone()[0]
            document = json.loads(document) if isinstance(document, str) else document
            times.append(document[0]["Execution Time"])
            plan = _plan_summary(document[0]["Plan"])
    return {"top50_db_p95_ms": round(_percentile(times, 0.95), 3), "top50_plan": plan}


def _plan_summary(node: dict) -> str:
    text = node["Node Type"] + (f" using {node['Index Name']}" if "Index Name" in node else "")
    children = [_plan_summary(child) for child in node.get("Plans", [])]
    return text + (f" > {' ; '.join(children)}" if children else "")


def _dashboard_run(context: Context, state: _DashboardState) -> Measurement:
    count = int(context.options.get("dashboard_requests", REQUESTS if context.isolated else 5))
    plain = _timed_requests(state, URL, count)
    filtered = _timed_requests(state, state.filtered_path, count)
    extra = {
        "p50_ms": round(1000 * statistics.median(plain), 1),
        "p95_ms": round(1000 * _percentile(plain, 0.95), 1),
        "filtered_p50_ms": round(1000 * statistics.median(filtered), 1),
        "filtered_p95_ms": round(1000 * _percentile(filtered, 0.95), 1),
        "filtered_path": state.filtered_path,
        "live_alerts": state.live_alerts,
        "advisor_live_alerts": state.advisor_alerts,
        **top50_explain(state.advisor),
    }
    return Measurement(seconds=sum(plain), count=count, extra=extra)


scenario(
    name="dashboard",
    description=(
        "An advisor's first page of prioritised alerts over HTTP (gunicorn, session cookie), one request "
        "after another, with a million live alerts in the database; and with a filter (quadrant and due date)."
    ),
    unit="requests",
    setup=_dashboard_setup,
    teardown=_dashboard_teardown,
    needs_clients=True,
)(_dashboard_run)
