import pytest


@pytest.fixture(autouse=True)
def no_hand_off_to_later_steps(settings):
    """The fault tests compare the unified view a sync writes; enrichment and alerts are not theirs.

    The workers they start run without the hand-off too (worker_settings.py).
    """
    settings.STEWARD_AFTER_SYNC_TASKS = []
