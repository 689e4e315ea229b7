"""Insights at scale: the beat refresh and the two pages (/insights/, /insights/retention/).

Setup (untimed; committed when isolated, removed again in the teardown): fees and commission for
every client over five years, then 26 weeks of follow-up history, some 0.04 alerts per client and
week with their messages, responses and bookings, as insights.demo generates for the demo: on
PostgreSQL set-based in SQL (a few statements, whatever the book's size), in the test suite's tiny
book by insights.demo itself. The client facts (value, churn signals) are derived when missing.
Option `insights_alert_rate` (alerts per client and week) stands in for a larger book on the
response side, whose tables grow with the alerts, not the clients: 0.4 on 100,000 clients gives the
alert volume of a million-client book.

A run times the beat refresh (the response facts of every alert and their weekly sums; the retention
snapshots) and then `insights_requests` requests of each page through Django's test client in this
process (server time, no HTTP), as a back-office user who sees every team, with the default filters
(26 weeks, every team). The baseline is the old response page: its GROUP BYs and PERCENTILE_CONT
medians straight over the facts (benchmarks/naive_insights.py), per request; the old retention page
is `retention_compute`, still what a page computes when there is no snapshot yet.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client as DjangoClient
from django.test import override_settings
from django.utils import timezone

from alerts.models import Alert, AlertType
from clients.models import Client, ClientRevenue
from enrichment.models import ClientFacts
from followup.models import Booking, Message, MessageAlert
from insights.demo import RESPONSE_HOURS, RESPONSE_RATE, SEGMENT_FACTOR, _quadrant_per_type
from insights.models import ResponseFact, ResponseWeek, RetentionSnapshot
from insights.selectors import InsightFilters, retention_compute
from insights.services import response_facts_refresh, response_weeks_refresh, retention_snapshots_refresh

from ..database import vacuum_analyze
from ..naive_insights import old_response_page
from ..registry import Baseline, Context, Measurement, scenario
from .framework import facts_ensure

WEEKS = 26
ALERTS_PER_CLIENT_PER_WEEK = 0.04
REQUESTS = 30
BASELINE_REQUESTS = 3
USER = "bench-insights"
MARKER = "bench-insights history"
INDEX, RETENTION = "/insights/", "/insights/retention/"


@dataclass
class _InsightsState:
    user: object
    alerts: int
    messages: int
    revenue_generated: bool


def _back_office():
    user, _created = get_user_model().objects.get_or_create(username=USER, defaults={"first_name": "Bench"})
    user.groups.add(Group.objects.get(name="Back office"))
    return user


def _revenue_generate_sql() -> None:
    """Five calendar years of fees and commission per client (Premium pays more fees), one INSERT."""
    this_year = timezone.localdate().year
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO clients_clientrevenue (client_id, year, fees, commission)
            SELECT c.id, y.year,
                round((CASE WHEN random() < (CASE c.segment WHEN 'premium' THEN 0.9 ELSE 0.5 END)
                    THEN CASE c.segment WHEN 'premium' THEN 900 + random() * 2300
                                        WHEN 'plus' THEN 250 + random() * 950 ELSE random() * 450 END
                    ELSE 0 END)::numeric, 2),
                round((300 * exp(0.9 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                    * (0.7 + random() * 0.6))::numeric, 2)
            FROM clients_client c CROSS JOIN generate_series(%s, %s) AS y(year)
            WHERE c.deleted_at IS NULL
            """,
            [this_year - 4, this_year],
        )


def _client_value_update_sql() -> None:
    """Facts derived before the revenue existed: the value of the last complete year, set-based."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE enrichment_clientfacts f SET client_value = r.fees + r.commission
            FROM clients_clientrevenue r WHERE r.client_id = f.client_id AND r.year = %s
            """,
            [timezone.localdate().year - 1],
        )


def _history_generate_sql(advisor_id: int, rate: float) -> None:
    """WEEKS of alerts, messages, responses and bookings for the whole book, in a few statements.

    The shape of insights.demo: the first channel by weight, a reminder through a second one for
    three alerts in ten, response rates per channel and segment, lognormal response times; an alert
    with a response is resolved, others dismissed or resolved later. Ids are drawn from the tables'
    sequences first, so the rows can refer to each other without a round trip.
    """
    types = list(AlertType.objects.exclude(key__startswith="bench_").order_by("pk"))
    quadrants = _quadrant_per_type(types)
    statements = [
        (
            """
            CREATE TEMP TABLE bench_alerts AS
            SELECT nextval((SELECT pg_get_serial_sequence('alerts_alert', 'id')::regclass)) AS alert_id,
                x.client_id, x.team_id,
                x.segment, (%(types)s::bigint[])[x.pick] AS alert_type_id, (%(quadrants)s::text[])[x.pick] AS quadrant,
                x.opened_at,
                CASE WHEN x.r < 0.6 THEN 'email' WHEN x.r < 0.75 THEN 'letter' WHEN x.r < 0.85 THEN 'phone'
                     ELSE 'sms' END AS first_channel,
                random() < 0.3 AS reminded,
                x.opened_at + (1 + random() * 29) * interval '1 hour' AS first_sent_at,
                (3 + random() * 4) * interval '1 day' AS reminder_after
            FROM (
                SELECT c.id AS client_id, c.team_id, c.segment, 1 + floor(random() * %(type_count)s)::int AS pick,
                    random() AS r,
                    date_trunc('week', now()) - make_interval(weeks => w.n)
                        + make_interval(days => floor(random() * 5)::int, hours => 7 + floor(random() * 11)::int,
                                        mins => floor(random() * 60)::int) AS opened_at
                FROM clients_client c CROSS JOIN generate_series(1, %(weeks)s) AS w(n)
                WHERE c.deleted_at IS NULL AND random() < %(rate)s
            ) x
            """
        ),
        (
            """
            CREATE TEMP TABLE bench_messages AS
            SELECT nextval((SELECT pg_get_serial_sequence('followup_message', 'id')::regclass)) AS message_id,
                a.alert_id, a.client_id,
                a.team_id, m.channel, m.sent_at,
                CASE WHEN random() < least(0.95, r.rate * f.factor) THEN m.sent_at
                    + r.hours * exp(0.9 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) * interval '1 hour'
                END AS responded_at
            FROM bench_alerts a
            CROSS JOIN LATERAL (VALUES (a.first_channel, a.first_sent_at),
                (CASE WHEN a.reminded THEN CASE a.first_channel WHEN 'email' THEN 'sms' ELSE 'email' END END,
                 a.first_sent_at + a.reminder_after)) AS m(channel, sent_at)
            JOIN unnest(%(channels)s::text[], %(rates)s::float8[], %(hours)s::float8[]) AS r(channel, rate, hours)
                ON r.channel = m.channel
            JOIN unnest(%(segments)s::text[], %(factors)s::float8[]) AS f(segment, factor) ON f.segment = a.segment
            WHERE m.sent_at < now()
            """
        ),
        ("UPDATE bench_messages SET responded_at = NULL WHERE responded_at >= now()"),
        (
            """
            INSERT INTO alerts_alert (id, alert_type_id, segment, client_id, team_id, assigned_to_id, message,
                "values", explanation, granulation, values_fingerprint, priority, quadrant, status, status_reason,
                opened_at, updated_at, closed_at)
            SELECT a.alert_id, a.alert_type_id, '', a.client_id, a.team_id, NULL, %(marker)s, '{}', '[]', '{}', '',
                0, a.quadrant, s.status, '', a.opened_at, s.closed_at, s.closed_at
            FROM bench_alerts a
            LEFT JOIN (SELECT alert_id, min(responded_at) AS first_response FROM bench_messages GROUP BY alert_id) fr
                USING (alert_id)
            CROSS JOIN LATERAL (SELECT CASE
                WHEN fr.first_response IS NOT NULL THEN 'resolved' WHEN random() < 0.6 THEN 'dismissed'
                ELSE 'resolved' END AS status,
                least(now(), CASE WHEN fr.first_response IS NOT NULL
                    THEN fr.first_response + 72 * exp(0.9 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                         * interval '1 hour'
                    ELSE a.opened_at + (14 + random() * 26) * interval '1 day' END) AS closed_at) s
            """
        ),
        (
            """
            INSERT INTO followup_message (id, channel, delivery, handled_by, purpose, call_to_action,
                self_service_flow, language, subject, body, recipient, status, queued_at, send_after, sent_at,
                delivered_at, failure_reason, responded_at, idempotency_key, claim_token, provider_reference,
                attempts, client_id, team_id)
            SELECT m.message_id, m.channel, 'direct', '', 'service', 'none', '', 'nl', %(marker)s, '', '',
                CASE WHEN m.responded_at IS NULL THEN 'delivered' ELSE 'responded' END, m.sent_at, m.sent_at,
                m.sent_at, m.sent_at + interval '1 minute', '', m.responded_at, 'bench-insights-' || m.message_id,
                '', '', 1, m.client_id, m.team_id
            FROM bench_messages m
            """
        ),
        (
            """
            INSERT INTO followup_messagealert (message_id, alert_id, channel)
            SELECT message_id, alert_id, channel FROM bench_messages
            """
        ),
        (
            """
            INSERT INTO followup_booking (starts_at, ends_at, status, created_at, advisor_id, alert_id, client_id,
                team_id, message_id)
            SELECT b.starts_at, b.starts_at + interval '1 hour',
                CASE WHEN random() < 0.85 THEN 'held' ELSE 'cancelled' END, b.responded_at, %(advisor)s, b.alert_id,
                b.client_id, b.team_id, b.message_id
            FROM (
                SELECT DISTINCT ON (m.alert_id) m.*, a.quadrant,
                    date_trunc('day', m.responded_at) + (2 + floor(random() * 9)::int) * interval '1 day'
                        + (9 + floor(random() * 8)::int) * interval '1 hour' AS starts_at
                FROM bench_messages m JOIN bench_alerts a USING (alert_id)
                WHERE m.responded_at IS NOT NULL
                ORDER BY m.alert_id, m.responded_at
            ) b
            WHERE b.starts_at < now()
                AND random() < CASE WHEN b.quadrant IN ('urgent_sensitive', 'later_sensitive') THEN 0.45 ELSE 0.15 END
            """
        ),
        ("DROP TABLE bench_alerts, bench_messages"),
    ]
    parameters = {
        "types": [alert_type.pk for alert_type in types],
        "quadrants": [quadrants[alert_type.pk] for alert_type in types],
        "type_count": len(types),
        "weeks": WEEKS,
        "rate": rate,
        "marker": MARKER,
        "advisor": advisor_id,
        "channels": list(RESPONSE_RATE),
        "rates": list(RESPONSE_RATE.values()),
        "hours": [float(RESPONSE_HOURS[channel]) for channel in RESPONSE_RATE],
        "segments": list(SEGMENT_FACTOR),
        "factors": list(SEGMENT_FACTOR.values()),
    }
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, {name: value for name, value in parameters.items() if f"%({name})s" in statement})


def _insights_setup(context: Context) -> _InsightsState:
    user = _back_office()
    revenue_generated = not ClientRevenue.objects.exists()
    facts_derived_before = ClientFacts.objects.exists()
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        if revenue_generated:
            _revenue_generate_sql()
        facts_ensure(context.log)
        if revenue_generated and facts_derived_before:
            _client_value_update_sql()
        # A larger rate stands in for a larger book: the response side scales with alerts, not clients.
        _history_generate_sql(user.pk, float(context.options.get("insights_alert_rate", ALERTS_PER_CLIENT_PER_WEEK)))
    else:  # the test suite's tiny book: the demo's own generators
        from insights.demo import history_generate, revenue_generate

        if revenue_generated:
            revenue_generate(seed=1)
        clients = list(Client.objects.order_by("pk").values_list("pk", "team_id", "advisor_id", "segment"))
        history_generate(clients=clients, weeks=WEEKS, seed=1)
        facts_ensure(context.log)
    vacuum_analyze("alerts_alert", "followup_message", "followup_messagealert", "followup_booking")
    vacuum_analyze("clients_clientrevenue", "enrichment_clientfacts")
    state = _InsightsState(
        user=user,
        alerts=Alert.objects.count(),
        messages=MessageAlert.objects.count(),
        revenue_generated=revenue_generated,
    )
    context.log(
        f"  generated {state.alerts:,} alerts and {state.messages:,} messages over {WEEKS} weeks "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return state


def _insights_teardown(context: Context, state: _InsightsState) -> None:
    if context.isolated and connection.vendor == "postgresql":  # the bench database only
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE insights_responsefact, insights_responseweek, insights_retentionsnapshot, "
                "followup_messagealert, followup_booking, followup_message, alerts_alert, alerts_alertevent CASCADE"
            )
            if state.revenue_generated:
                cursor.execute("TRUNCATE clients_clientrevenue")
                cursor.execute("UPDATE enrichment_clientfacts SET client_value = NULL WHERE client_value IS NOT NULL")
    else:
        ResponseFact.objects.all().delete()
        ResponseWeek.objects.all().delete()
        RetentionSnapshot.objects.all().delete()
        Booking.objects.all().delete()
        MessageAlert.objects.all().delete()
        Message.objects.all().delete()
        Alert.objects.all().delete()
        if state.revenue_generated:
            ClientRevenue.objects.all().delete()
            ClientFacts.objects.update(client_value=None)
    get_user_model().objects.filter(username=USER).delete()
    vacuum_analyze("alerts_alert", "followup_message", "followup_messagealert")


def _percentile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def _timed_requests(user, path: str, count: int) -> list[float]:
    # Production settings when isolated, as benchmarks/server_settings.py adapts them: the test
    # client's host allowed, static URLs without the manifest (no collectstatic here); its requests
    # look like HTTPS, or they would be redirected there.
    plain_static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"], STORAGES=plain_static):
        browser = DjangoClient()
        browser.force_login(user)
        browser.get(path, secure=True)  # the first request loads templates and translations: not a steady figure
        timings = []
        for _number in range(count):
            started = time.perf_counter()
            response = browser.get(path, secure=True)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
    return timings


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def _insights_run(context: Context, state: _InsightsState) -> Measurement:
    started = time.perf_counter()
    facts = response_facts_refresh()  # every alert: the nightly refresh covers the year, this the lot
    facts_seconds = time.perf_counter() - started
    started = time.perf_counter()
    weeks = response_weeks_refresh()
    weeks_seconds = time.perf_counter() - started
    started = time.perf_counter()
    snapshots = retention_snapshots_refresh()
    retention_seconds = time.perf_counter() - started
    vacuum_analyze("insights_responseweek", "insights_retentionsnapshot")

    count = int(context.options.get("insights_requests", REQUESTS if context.isolated else 3))
    index = _timed_requests(state.user, INDEX, count)
    retention = _timed_requests(state.user, RETENTION, count)
    started = time.perf_counter()
    retention_compute(None)
    live_retention = time.perf_counter() - started
    extra = {
        "alerts": facts.alerts,
        "response_facts": facts.rows,
        "response_weeks": weeks,
        "facts_refresh_s": round(facts_seconds, 2),
        "weeks_refresh_s": round(weeks_seconds, 2),
        "retention_refresh_s": round(retention_seconds, 2),
        "retention_snapshots": snapshots,
        "index_p50_ms": _ms(statistics.median(index)),
        "index_p95_ms": _ms(_percentile(index, 0.95)),
        "retention_p50_ms": _ms(statistics.median(retention)),
        "retention_p95_ms": _ms(_percentile(retention, 0.95)),
        "retention_live_ms": _ms(live_retention),
    }
    return Measurement(seconds=sum(index), count=count, extra=extra)


def _insights_baseline(context: Context, state: _InsightsState) -> Baseline:
    """The old response page's queries over the facts, for as many requests as the run made."""
    count = int(context.options.get("insights_requests", REQUESTS if context.isolated else 3))
    sample = min(count, int(context.options.get("insights_baseline_requests", BASELINE_REQUESTS)))
    filters = InsightFilters.last_weeks(WEEKS)
    started = time.perf_counter()
    for _number in range(sample):
        old_response_page(filters)
    sample_seconds = time.perf_counter() - started
    return Baseline(
        seconds=sample_seconds / sample * count,
        sample_count=sample,
        sample_seconds=sample_seconds,
        method="the old /insights/ queries (GROUP BY and PERCENTILE_CONT over the response facts), per request",
    )


scenario(
    name="insights",
    description=(
        "The insights: the beat refresh (response facts, weekly sums, retention snapshots) over 26 weeks of "
        "follow-up history, then /insights/ and /insights/retention/ as a back-office user (server time)."
    ),
    unit="requests",
    setup=_insights_setup,
    teardown=_insights_teardown,
    baseline=_insights_baseline,
    needs_clients=True,
)(_insights_run)
