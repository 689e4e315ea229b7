"""Follow-up's settings, each with the firm's default; override any in the Django settings."""

import datetime as dt
from pathlib import Path

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def quiet_hours() -> tuple[dt.time, dt.time]:
    """No push messages between these local times (a client's own rules may say otherwise)."""
    start, end = _get("STEWARD_FOLLOWUP_QUIET_HOURS", ("21:00", "08:00"))
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def max_messages_per_week() -> int:
    """At most this many push messages to one client in any 7 days (bundling keeps this low)."""
    return int(_get("STEWARD_FOLLOWUP_MAX_MESSAGES_PER_WEEK", 3))


def default_language() -> str:
    return _get("STEWARD_FOLLOWUP_DEFAULT_LANGUAGE", "nl")


def link_max_age() -> dt.timedelta:
    """How long a client's link works (self-service and booking)."""
    return dt.timedelta(days=int(_get("STEWARD_FOLLOWUP_LINK_MAX_AGE_DAYS", 21)))


def site_url() -> str:
    """The address links in messages start with (no trailing slash)."""
    return str(_get("STEWARD_FOLLOWUP_SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def email_backend() -> str | None:
    """The Django email backend for follow-up mail; None: the project's EMAIL_BACKEND."""
    return _get("STEWARD_FOLLOWUP_EMAIL_BACKEND", None) or None


def outbox_dir() -> Path:
    """Where the demo outbox backend writes one .eml file per email."""
    return Path(_get("STEWARD_FOLLOWUP_OUTBOX_DIR", Path(settings.MEDIA_ROOT) / "followup" / "outbox"))


def provider_dir() -> Path:
    """Where the file backends of SMS, WhatsApp, push and portal write what they would send."""
    return Path(_get("STEWARD_FOLLOWUP_PROVIDER_DIR", Path(settings.MEDIA_ROOT) / "followup" / "providers"))


def letters_dir() -> Path:
    return Path(_get("STEWARD_FOLLOWUP_LETTERS_DIR", Path(settings.MEDIA_ROOT) / "followup" / "letters"))


def channel_backends() -> dict[str, str]:
    """Channel → backend class path (followup/channels.py); a firm plugs in its SMS provider here."""
    defaults = {
        "email": "followup.channels.EmailChannel",
        "sms": "followup.channels.FileProviderChannel",
        "whatsapp": "followup.channels.FileProviderChannel",
        "push": "followup.channels.FileProviderChannel",
        "portal": "followup.channels.FileProviderChannel",
        "letter": "followup.channels.LetterChannel",
        "phone": "followup.channels.CallQueueChannel",
        "meeting": "followup.channels.MeetingAgendaChannel",
    }
    return {**defaults, **_get("STEWARD_FOLLOWUP_CHANNEL_BACKENDS", {})}


def claim_lease() -> dt.timedelta:
    """A claim older than this, with no provider call started, was left by a dead worker: reclaim it."""
    return dt.timedelta(seconds=int(_get("STEWARD_FOLLOWUP_CLAIM_LEASE_SECONDS", 300)))


def webhook_secrets() -> dict[str, str]:
    """Provider name → the secret its delivery reports are signed with (settings, from the environment)."""
    return {name: secret for name, secret in _get("STEWARD_FOLLOWUP_WEBHOOK_SECRETS", {}).items() if secret}


def webhook_tolerance() -> dt.timedelta:
    """A delivery report signed longer ago (or further ahead) than this is refused: no replays later."""
    return dt.timedelta(seconds=int(_get("STEWARD_FOLLOWUP_WEBHOOK_TOLERANCE_SECONDS", 300)))


def demo_delivery_reports() -> bool:
    """Whether the demo's providers (file backends, the outbox) report delivery after dispatch."""
    return bool(_get("STEWARD_FOLLOWUP_DEMO_DELIVERY_REPORTS", False))


DEMO_PROVIDER = "demo"  # the name the demo's providers sign their reports as


def reminder_after() -> dt.timedelta | None:
    """No response this long after an alert's last message: it goes out through the playbook's next
    channel. None (0 days): no reminders."""
    days = int(_get("STEWARD_FOLLOWUP_REMINDER_AFTER_DAYS", 7))
    return dt.timedelta(days=days) if days > 0 else None
