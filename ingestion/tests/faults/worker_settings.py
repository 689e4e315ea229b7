"""Settings of the Celery workers the fault tests start: the test settings, but a real broker.

The hand-off to later steps (enrichment, framework) is switched off: the fault tests compare the
unified view a sync writes, and the in-process reference sync runs without it too.
"""

import os

from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
STEWARD_AFTER_SYNC_TASKS: list[str] = []

# The messages kill test points SMS at its recording fake provider, and sends at any hour.
if os.environ.get("STEWARD_FAULTS_PROVIDER_URL"):
    STEWARD_FOLLOWUP_CHANNEL_BACKENDS = {"sms": "ingestion.tests.faults.fake_provider.HttpSmsChannel"}
    STEWARD_FOLLOWUP_QUIET_HOURS = ("00:00", "00:00")
