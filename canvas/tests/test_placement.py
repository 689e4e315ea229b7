"""Moving a card re-prioritises its live alerts set-based; undo; newly raised alerts; the seed."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert, AlertType, Quadrant
from alerts.services import Finding, alerts_reconcile
from canvas.models import Placement, PlacementChange
from canvas.selectors import canvas_board, canvas_compare, placements_at
from canvas.services import alerts_place, placement_move, placement_undo, placements_reapply

from .conftest import raise_alert

pytestmark = pytest.mark.django_db

SIX_MONTHS, FOURTEEN_DAYS = "fixed_rate_within_6_months", "fixed_rate_within_14_days"


def alert_type(key):
    return AlertType.objects.get(key=key)


def updates_of_alerts(queries) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].startswith('UPDATE "alerts_alert"')]


def test_a_move_re_prioritises_every_live_alert_of_the_segment_in_one_update(clients, back_office):
    pension = alert_type("pension_gap")
    alerts = [raise_alert(client, "pension_gap", segment="pension_gap_under_30") for client in clients[:5]]

    with CaptureQueriesContext(connection) as queries:
        change = placement_move(
            alert_type=pension, segment="pension_gap_under_30", urgency=80, sensitivity=70, user=back_office
        )

    assert len(updates_of_alerts(queries.captured_queries)) == 1
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # A fixed number, whatever the number of alerts (two of them: the audit trail's history rows).
    assert len(statements) <= 10, statements
    assert change.alerts_updated == 5
    for alert in alerts:
        alert.refresh_from_db()
        assert (alert.priority, alert.quadrant) == (76, Quadrant.URGENT_SENSITIVE)


def test_a_move_shows_at_once_in_the_dashboards_cached_quadrant_counts(
    clients, back_office, advisor, client, settings, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    settings.STEWARD_ALERT_COUNTS_CACHE_SECONDS = 60
    cache.clear()
    pension = alert_type("pension_gap")
    for person in clients[:3]:
        raise_alert(person, "pension_gap")
    client.force_login(advisor)
    assert 'data-testid="count-unplaced">3<' in client.get("/dashboard/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        placement_move(alert_type=pension, urgency=80, sensitivity=70, user=back_office)
    html = client.get("/dashboard/").content.decode()
    assert 'data-testid="count-urgent_sensitive">3<' in html and 'data-testid="count-unplaced"' not in html
    cache.clear()


def test_closed_alerts_and_other_segments_keep_their_priority(clients, back_office):
    resolved = raise_alert(clients[0], "pension_gap", segment="pension_gap_under_30", status=Alert.Status.RESOLVED)
    dismissed = raise_alert(clients[1], "pension_gap", segment="pension_gap_under_30", status=Alert.Status.DISMISSED)
    snoozed = raise_alert(clients[2], "pension_gap", segment="pension_gap_under_30", status=Alert.Status.SNOOZED)
    over_30 = raise_alert(
        clients[3], "pension_gap", segment="pension_gap", priority=42, quadrant=Quadrant.LATER_SENSITIVE
    )

    placement_move(
        alert_type=alert_type("pension_gap"),
        segment="pension_gap_under_30",
        urgency=60,
        sensitivity=60,
        user=back_office,
    )

    for alert in (resolved, dismissed, snoozed, over_30):
        alert.refresh_from_db()
    assert (resolved.priority, resolved.quadrant) == (0, Quadrant.UNPLACED)
    assert (dismissed.priority, dismissed.quadrant) == (0, Quadrant.UNPLACED)
    assert (snoozed.priority, snoozed.quadrant) == (60, Quadrant.URGENT_SENSITIVE)  # snoozed is still live
    assert (over_30.priority, over_30.quadrant) == (42, Quadrant.LATER_SENSITIVE)


def test_the_whole_type_card_governs_the_segments_without_a_place_of_their_own(clients, back_office):
    fixed = alert_type("fixed_rate_ending")
    soon = raise_alert(clients[0], segment=FOURTEEN_DAYS)
    new_granule = raise_alert(clients[1], segment="fixed_rate_within_1_year")

    change = placement_move(alert_type=fixed, segment="", urgency=20, sensitivity=20, user=back_office)

    soon.refresh_from_db()
    new_granule.refresh_from_db()
    assert change.alerts_updated == 1
    assert (new_granule.priority, new_granule.quadrant) == (20, Quadrant.LATER_ROUTINE)
    assert soon.priority == 0  # the 14-days card is placed on its own (by the seed), untouched here

    # Back to the tray: the 14-days alerts fall back on the whole type's card.
    placement_move(alert_type=fixed, segment=FOURTEEN_DAYS, urgency=None, sensitivity=None, user=back_office)
    soon.refresh_from_db()
    assert (soon.priority, soon.quadrant) == (20, Quadrant.LATER_ROUTINE)


def test_undo_puts_the_card_back_and_its_alerts_follow(clients, back_office):
    complaint = alert_type("complaint_overdue")
    alert = raise_alert(clients[0], "complaint_overdue", segment="complaint_overdue")
    placement_move(alert_type=complaint, urgency=70, sensitivity=20, user=back_office)
    placement_move(alert_type=complaint, urgency=95, sensitivity=95, user=back_office)
    alert.refresh_from_db()
    assert alert.priority == 95

    undo = placement_undo(user=back_office)
    alert.refresh_from_db()
    placement = Placement.objects.get(alert_type=complaint, segment="")
    assert (placement.urgency, placement.advice_sensitivity) == (70, 20)
    assert (alert.priority, alert.quadrant) == (50, Quadrant.URGENT_ROUTINE)
    assert undo.undoes.to_urgency == 95

    placement_undo(user=back_office)  # the first move: back to the tray
    alert.refresh_from_db()
    assert not Placement.objects.get(alert_type=complaint, segment="").is_placed
    assert (alert.priority, alert.quadrant) == (0, Quadrant.UNPLACED)
    with pytest.raises(ValidationError, match="no move of yours"):
        placement_undo(user=back_office)


def test_undo_refuses_when_someone_else_moved_the_card_since(back_office, admin):
    complaint = alert_type("complaint_overdue")
    placement_move(alert_type=complaint, urgency=70, sensitivity=20, user=back_office)
    placement_move(alert_type=complaint, urgency=10, sensitivity=10, user=admin)
    with pytest.raises(ValidationError, match="someone else"):
        placement_undo(user=back_office)


def test_scores_are_validated():
    fixed = alert_type("fixed_rate_ending")
    for urgency, sensitivity in ((101, 5), (-1, 5), (50, None), (True, 3)):
        with pytest.raises(ValidationError):
            placement_move(alert_type=fixed, segment=FOURTEEN_DAYS, urgency=urgency, sensitivity=sensitivity, user=None)
    with pytest.raises(ValidationError):
        placement_move(alert_type=fixed, segment="days:0-14", urgency=5, sensitivity=5, user=None)


def test_newly_raised_alerts_get_the_place_of_their_card(clients):
    findings = [
        Finding(client_id=clients[0].pk, alert_type="fixed_rate_ending", segment=FOURTEEN_DAYS),
        Finding(client_id=clients[1].pk, alert_type="fixed_rate_ending", segment=SIX_MONTHS),
        Finding(client_id=clients[2].pk, alert_type="home_underinsured", segment="home_underinsured"),
        Finding(client_id=clients[3].pk, alert_type="pension_gap", segment="pension_gap"),
        Finding(client_id=clients[4].pk, alert_type="no_life_cover", segment="no_life_cover"),
        Finding(client_id=clients[5].pk, alert_type="brand_new_rule", segment="brand_new_rule"),
    ]
    with CaptureQueriesContext(connection) as queries:
        counts = alerts_reconcile(findings=findings, client_ids={client.pk for client in clients})
    assert counts.opened == 6
    # Placed before they are written: no UPDATE afterwards, which would write every new alert twice.
    assert updates_of_alerts(queries.captured_queries) == []
    placed = {
        (alert.client_id, alert.alert_type.key): (alert.priority, alert.quadrant)
        for alert in Alert.objects.select_related("alert_type")
    }
    assert placed[clients[0].pk, "fixed_rate_ending"] == (66, Quadrant.URGENT_ROUTINE)
    assert placed[clients[1].pk, "fixed_rate_ending"] == (36, Quadrant.LATER_ROUTINE)
    assert placed[clients[2].pk, "home_underinsured"] == (20, Quadrant.LATER_ROUTINE)
    assert placed[clients[3].pk, "pension_gap"] == (42, Quadrant.LATER_SENSITIVE)
    assert placed[clients[4].pk, "no_life_cover"] == (0, Quadrant.UNPLACED)  # still in the tray
    assert placed[clients[5].pk, "brand_new_rule"] == (0, Quadrant.UNPLACED)


def test_as_the_deadline_comes_closer_the_alert_escalates_into_the_14_days_card(clients):
    ids = {clients[0].pk}
    end = date.today() + timedelta(days=40)
    alerts_reconcile(
        findings=[Finding(client_id=clients[0].pk, alert_type="fixed_rate_ending", segment=SIX_MONTHS, due_date=end)],
        client_ids=ids,
    )
    alert = Alert.objects.get()
    assert (alert.priority, alert.quadrant) == (36, Quadrant.LATER_ROUTINE)

    # Weeks later the framework's evaluation finds it within 14 days: the alert moves to that segment ...
    alerts_reconcile(
        findings=[
            Finding(client_id=clients[0].pk, alert_type="fixed_rate_ending", segment=FOURTEEN_DAYS, due_date=end)
        ],
        client_ids=ids,
    )
    # ... and takes that card's place at once: the alerts step hands its changed alerts to alerts_place.
    alert.refresh_from_db()
    assert (alert.segment, alert.priority, alert.quadrant) == (FOURTEEN_DAYS, 66, Quadrant.URGENT_ROUTINE)
    assert placements_reapply() == 0  # the nightly re-application finds nothing left to rewrite
    Alert.objects.filter(pk=alert.pk).update(segment=SIX_MONTHS)
    assert alerts_place(alert_ids=[alert.pk]) == 1
    assert Alert.objects.get(pk=alert.pk).priority == 36


def test_the_seed_examples_land_in_their_quadrants():
    board = {(card.alert_type.key, card.segment): card for card in canvas_board().cards}
    fixed_soon = board["fixed_rate_ending", FOURTEEN_DAYS]
    home = board["home_underinsured", ""]
    pension = board["pension_gap", "pension_gap"]
    # A fixed-interest end within two weeks: urgent, and a little advice-sensitive.
    assert fixed_soon.urgency >= 75 and 0 < fixed_soon.advice_sensitivity < 50
    assert fixed_soon.quadrant == Quadrant.URGENT_ROUTINE
    # Home insurance below the property's value: a little urgent, not advice-sensitive.
    assert 0 < home.urgency < 50 and home.advice_sensitivity <= 10
    assert home.quadrant == Quadrant.LATER_ROUTINE
    # A poorly covered pension at 30 and over: not urgent, very advice-sensitive.
    assert pension.urgency <= 25 and pension.advice_sensitivity >= 75
    assert pension.quadrant == Quadrant.LATER_SENSITIVE
    assert board["pension_gap", "pension_gap"].label == "30 and over"  # the decision table's words
    assert board["pension_gap", "pension_gap_under_30"].quadrant == Quadrant.UNPLACED  # in the tray
    assert fixed_soon.priority > pension.priority > home.priority


def test_the_board_counts_live_alerts_per_card(clients):
    raise_alert(clients[0], segment=FOURTEEN_DAYS)
    raise_alert(clients[1], segment=FOURTEEN_DAYS)
    raise_alert(clients[2], segment=FOURTEEN_DAYS, status=Alert.Status.RESOLVED)
    raise_alert(clients[3], segment="fixed_rate_within_1_year")
    raise_alert(clients[4], "home_underinsured", segment="home_underinsured")
    board = {(card.alert_type.key, card.segment): card for card in canvas_board().cards}
    assert board["fixed_rate_ending", FOURTEEN_DAYS].open_count == 2
    assert board["fixed_rate_ending", SIX_MONTHS].open_count == 0
    assert board["fixed_rate_ending", ""].open_count == 1  # the 1-year alert: no card of its own placed
    assert board["home_underinsured", ""].open_count == 1
    assert ("home_underinsured", "home_underinsured") not in board  # one granule is no segment


def test_a_version_is_the_canvas_after_a_change_and_two_versions_compare(back_office):
    fixed = alert_type("fixed_rate_ending")
    seeded = PlacementChange.objects.latest("id").pk
    first = placement_move(alert_type=fixed, segment=SIX_MONTHS, urgency=45, sensitivity=35, user=back_office)
    second = placement_move(alert_type=alert_type("no_life_cover"), urgency=70, sensitivity=80, user=back_office)

    assert placements_at(version=seeded)[fixed.pk, SIX_MONTHS] == (40, 30)
    assert placements_at(version=first.pk)[fixed.pk, SIX_MONTHS] == (45, 35)
    assert (alert_type("no_life_cover").pk, "") not in placements_at(version=first.pk)
    differences = canvas_compare(version_a=seeded, version_b=second.pk)
    assert [(d.alert_type.key, d.segment, d.before, d.after) for d in differences] == [
        ("fixed_rate_ending", SIX_MONTHS, (40, 30), (45, 35)),
        ("no_life_cover", "", None, (70, 80)),
    ]
    assert differences[1].after_quadrant == Quadrant.URGENT_SENSITIVE
