"""A canvas move: back office drags a card, and every live alert of its segment takes the new priority.

The card is a segment of a stand-in alert type ("bench_canvas", segment "bench_segment") with
`canvas_alerts` live alerts (default 100,000, one per client), written before the runs next to
whatever alerts the book has. Each move is rolled back; the dead rows it leaves are vacuumed
before the next, as autovacuum would between two moves minutes apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from alerts.models import Alert, AlertType
from canvas.models import Placement, PlacementChange
from canvas.services import placement_move

from ..database import rolled_back, vacuum_analyze
from ..registry import Baseline, Context, Measurement, scenario

CANVAS_ALERTS = 100_000
BASELINE_SAMPLE = 1_000
TYPE_KEY = "bench_canvas"
SEGMENT = "bench_segment"


@dataclass
class _CanvasState:
    alert_type: AlertType
    alerts: int


def _canvas_setup(context: Context) -> _CanvasState:
    wanted = int(context.options.get("canvas_alerts", CANVAS_ALERTS if context.isolated else 50))
    alert_type = AlertType.objects.get_or_create(key=TYPE_KEY, defaults={"name": "Canvas benchmark"})[0]
    Placement.objects.update_or_create(
        alert_type=alert_type, segment=SEGMENT, defaults={"urgency": 20, "advice_sensitivity": 20}
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO alerts_alert (alert_type_id, segment, client_id, team_id, assigned_to_id, message, "values",
                explanation, granulation, values_fingerprint, due_date, priority, quadrant, status,
                status_reason, opened_at, updated_at)
            SELECT %s, %s, c.id, c.team_id, c.advisor_id, 'Stand-in alert for the canvas benchmark', '{}', '[]',
                '{}', '', NULL, 20, 'later_routine', 'open', '', %s, %s
            FROM clients_client c WHERE c.deleted_at IS NULL ORDER BY c.id LIMIT %s
            """,
            [alert_type.pk, SEGMENT, now, now, wanted],
        )
        count = cursor.rowcount
    vacuum_analyze("alerts_alert")
    return _CanvasState(alert_type=alert_type, alerts=count)


def _canvas_teardown(context: Context, state: _CanvasState) -> None:
    Alert.objects.filter(alert_type=state.alert_type).delete()
    PlacementChange.objects.filter(alert_type=state.alert_type).delete()
    Placement.objects.filter(alert_type=state.alert_type).delete()
    state.alert_type.delete()
    vacuum_analyze("alerts_alert")


def _canvas_run(context: Context, state: _CanvasState) -> Measurement:
    with rolled_back():
        started = time.perf_counter()
        change = placement_move(alert_type=state.alert_type, segment=SEGMENT, urgency=90, sensitivity=80, user=None)
        seconds = time.perf_counter() - started
    if change.alerts_updated != state.alerts:
        raise RuntimeError(f"the move re-prioritised {change.alerts_updated} of {state.alerts} alerts")
    vacuum_analyze("alerts_alert")  # the rolled-back move's dead rows, as autovacuum would between moves
    return Measurement(seconds=seconds, count=change.alerts_updated)


def _canvas_baseline(context: Context, state: _CanvasState) -> Baseline:
    """One save() per alert of the card (a sample), extrapolated."""
    sample = min(BASELINE_SAMPLE, state.alerts)
    with rolled_back():
        alerts = list(Alert.objects.filter(alert_type=state.alert_type)[:sample])
        started = time.perf_counter()
        for alert in alerts:
            alert.priority, alert.quadrant = 86, "urgent_sensitive"
            alert.save(update_fields=["priority", "quadrant"])
        seconds = time.perf_counter() - started
    vacuum_analyze("alerts_alert")
    return Baseline(
        seconds=seconds * state.alerts / sample,
        sample_count=sample,
        sample_seconds=seconds,
        method="one save() per alert of the card",
    )


scenario(
    name="canvas_move",
    description=(
        "Back office moves a card (a segment with 100,000 live alerts) to another place on the canvas: "
        "the move, its history row and the re-prioritisation of every live alert of the segment."
    ),
    unit="alerts",
    setup=_canvas_setup,
    teardown=_canvas_teardown,
    baseline=_canvas_baseline,
    needs_clients=True,
)(_canvas_run)
