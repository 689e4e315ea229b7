"""The priority function: a pure function of the card's two scores."""

from hypothesis import given
from hypothesis import strategies as st

from alerts.models import Quadrant
from canvas.models import priority_for, quadrant_for

scores = st.integers(min_value=0, max_value=100)


def test_priority_weighs_urgency_three_fifths_and_advice_sensitivity_two_fifths():
    assert priority_for(0, 0) == 0
    assert priority_for(100, 100) == 100
    assert priority_for(100, 0) == 60
    assert priority_for(0, 100) == 40
    assert priority_for(90, 30) == 66
    assert priority_for(1, 0) == 1  # 0.6 rounds half up
    assert priority_for(0, 1) == 0  # 0.4 rounds down


@given(urgency=scores, sensitivity=scores)
def test_priority_stays_between_0_and_100_and_rounds_the_weighted_sum(urgency, sensitivity):
    priority = priority_for(urgency, sensitivity)
    assert 0 <= priority <= 100
    assert abs(priority - (0.6 * urgency + 0.4 * sensitivity)) <= 0.5


@given(urgency=scores, sensitivity=scores)
def test_more_urgent_or_more_advice_sensitive_is_never_lower_priority(urgency, sensitivity):
    if urgency < 100:
        assert priority_for(urgency + 1, sensitivity) >= priority_for(urgency, sensitivity)
    if sensitivity < 100:
        assert priority_for(urgency, sensitivity + 1) >= priority_for(urgency, sensitivity)


def test_the_quadrant_is_read_from_the_scores_with_50_as_the_middle():
    assert quadrant_for(50, 50) == Quadrant.URGENT_SENSITIVE
    assert quadrant_for(50, 49) == Quadrant.URGENT_ROUTINE
    assert quadrant_for(49, 50) == Quadrant.LATER_SENSITIVE
    assert quadrant_for(0, 0) == Quadrant.LATER_ROUTINE
    assert quadrant_for(None, None) == Quadrant.UNPLACED
