"""Granulation: an alert type split by an attribute, each segment placed on its own."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts.models import Alert, AlertType, Quadrant
from canvas.models import PlacementChange
from canvas.segments import band_label, bounds_parse, split_keys
from canvas.selectors import canvas_board
from canvas.services import granulation_set, placement_move, placements_reapply

from .conftest import raise_alert

pytestmark = pytest.mark.django_db


def test_split_keys_and_their_labels():
    assert split_keys("days", [14, 183]) == ["days:0-14", "days:15-183", "days:184+"]
    assert [band_label(key) for key in split_keys("days", [14, 183])] == [
        "within 14 days",
        "in 15 to 183 days",
        "more than 183 days away",
    ]
    assert split_keys("age", [30]) == ["age:0-29", "age:30+"]
    assert [band_label(key) for key in split_keys("age", [30])] == ["under 30", "30 and over"]
    assert split_keys("discrepancies", [1, 4]) == ["discrepancies:1-1", "discrepancies:2-4", "discrepancies:5+"]
    assert [band_label(key) for key in split_keys("discrepancies", [1, 4])] == [
        "1 discrepancy",
        "2 to 4 discrepancies",
        "5 or more discrepancies",
    ]
    assert "household:single_parent" in split_keys("household", [])
    assert band_label("household:single_parent") == "Single parent"


def test_bounds_are_validated():
    assert bounds_parse("days", "183, 14") == [14, 183]
    for attribute, text in (("days", "soon"), ("days", ""), ("days", "0"), ("age", "35"), ("days", "1,2,3,4,5,6")):
        with pytest.raises(ValidationError):
            bounds_parse(attribute, text)


def test_a_split_by_days_to_the_deadline_escalates_as_time_passes(clients, back_office):
    complaint = AlertType.objects.get(key="complaint_overdue")
    today = timezone.localdate()
    soon = raise_alert(clients[0], "complaint_overdue", due_date=today + timedelta(days=10))
    later = raise_alert(clients[1], "complaint_overdue", due_date=today + timedelta(days=20))
    undated = raise_alert(clients[2], "complaint_overdue")

    granulation_set(alert_type=complaint, attribute="days", bounds=[14, 183], user=back_office)
    placement_move(alert_type=complaint, segment="days:0-14", urgency=90, sensitivity=60, user=back_office)
    placement_move(alert_type=complaint, segment="days:15-183", urgency=30, sensitivity=60, user=back_office)
    placement_move(alert_type=complaint, segment="", urgency=10, sensitivity=10, user=back_office)

    for alert in (soon, later, undated):
        alert.refresh_from_db()
    assert (soon.priority, soon.quadrant) == (78, Quadrant.URGENT_SENSITIVE)
    assert (later.priority, later.quadrant) == (42, Quadrant.LATER_SENSITIVE)
    assert (undated.priority, undated.quadrant) == (10, Quadrant.LATER_ROUTINE)  # no deadline: the whole type's card
    board = {card.segment: card for card in canvas_board().cards if card.alert_type == complaint}
    assert [board[key].open_count for key in ("days:0-14", "days:15-183", "days:184+", "")] == [1, 1, 0, 1]
    assert board["days:0-14"].label == "within 14 days"

    # Ten days on, the later alert is within 14 days: the nightly re-application moves it up.
    placements_reapply(today=today + timedelta(days=10))
    later.refresh_from_db()
    assert (later.priority, later.quadrant) == (78, Quadrant.URGENT_SENSITIVE)


def test_a_split_by_age_band_and_an_unknown_age_falls_back_on_the_whole_type(clients, back_office):
    pension = AlertType.objects.get(key="pension_gap")
    young = raise_alert(clients[0], "pension_gap", segment="pension_gap_under_30", granulation={"age_band": "under_30"})
    older = raise_alert(clients[1], "pension_gap", segment="pension_gap", granulation={"age_band": "45_54"})
    unknown = raise_alert(clients[2], "pension_gap", segment="pension_gap", granulation={})

    granulation_set(alert_type=pension, attribute="age", bounds=[30], user=back_office)
    placement_move(alert_type=pension, segment="age:30+", urgency=10, sensitivity=90, user=back_office)
    placement_move(alert_type=pension, segment="", urgency=5, sensitivity=50, user=back_office)

    for alert in (young, older, unknown):
        alert.refresh_from_db()
    assert older.quadrant == Quadrant.LATER_SENSITIVE and older.priority == 42
    # Under 30 has no place of its own, and the unknown age is in no band: both follow the whole type.
    assert (young.priority, unknown.priority) == (23, 23)

    # Back to the framework's granules: the 30-and-over granule's seed placement holds again.
    granulation_set(alert_type=pension, attribute="", bounds=[], user=back_office)
    older.refresh_from_db()
    young.refresh_from_db()
    assert (older.priority, young.priority) == (42, 23)
    assert PlacementChange.objects.filter(split__isnull=False).count() == 2


def test_splits_by_household_and_by_discrepancies(clients, back_office):
    cover = AlertType.objects.get(key="no_life_cover")
    family = raise_alert(clients[0], "no_life_cover", granulation={"household_type": "family", "discrepancy_count": 1})
    single = raise_alert(
        clients[1], "no_life_cover", granulation={"household_type": "single_parent", "discrepancy_count": 6}
    )

    granulation_set(alert_type=cover, attribute="household", bounds=[], user=back_office)
    placement_move(alert_type=cover, segment="household:single_parent", urgency=80, sensitivity=80, user=back_office)
    single.refresh_from_db()
    family.refresh_from_db()
    assert (single.priority, family.priority) == (80, 0)

    granulation_set(alert_type=cover, attribute="discrepancies", bounds=[1, 4], user=back_office)
    placement_move(alert_type=cover, segment="discrepancies:5+", urgency=60, sensitivity=40, user=back_office)
    placement_move(alert_type=cover, segment="discrepancies:1-1", urgency=20, sensitivity=40, user=back_office)
    single.refresh_from_db()
    family.refresh_from_db()
    assert (single.priority, family.priority) == (52, 28)


def test_a_segment_of_another_split_cannot_be_placed(back_office):
    cover = AlertType.objects.get(key="no_life_cover")
    granulation_set(alert_type=cover, attribute="days", bounds=[14], user=back_office)
    with pytest.raises(ValidationError):
        placement_move(alert_type=cover, segment="days:0-30", urgency=5, sensitivity=5, user=back_office)
    with pytest.raises(ValidationError):
        granulation_set(alert_type=cover, attribute="weather", bounds=[1], user=back_office)
    assert Alert.objects.count() == 0
