"""What a message template may see: whitelisted plain values of the client, the advisor and the alerts.

Built from rows the planner already fetched (dicts of `values()`), never from model instances, so a
template cannot reach anything else (see templating.py). The built-in texts below are used when no
template exists for a channel and language, or when a saved template fails for one client.
"""

import datetime as dt

from django.utils import translation
from django.utils.translation import gettext as _

FIELDS_HELP = [
    ("client.first_name", "Anna"),
    ("client.last_name", "de Vries"),
    ("client.full_name", "Anna de Vries"),
    ("advisor.name", "Anouk Bakker"),
    ("alerts", "list: alert.type, alert.message, alert.due_date (|date)"),
    ("link", "https://…/c/… (the client's own page)"),
    ("call_to_action", "self_service | booking | none"),
    ("firm.name", "Steward"),
]


def template_context(*, client: dict, advisor: dict, alerts: list[dict], link: str, call_to_action: str) -> dict:
    return {
        "client": {
            "first_name": client.get("first_name") or "",
            "last_name": " ".join(p for p in (client.get("last_name_prefix"), client.get("last_name")) if p),
            "full_name": " ".join(
                p for p in (client.get("first_name"), client.get("last_name_prefix"), client.get("last_name")) if p
            ),
        },
        "advisor": {"name": advisor.get("name") or ""},
        "alerts": [
            {
                "type": alert.get("type") or "",
                "message": alert.get("message") or "",
                "due_date": alert.get("due_date") if isinstance(alert.get("due_date"), dt.date) else None,
            }
            for alert in alerts
        ],
        "link": link,
        "call_to_action": call_to_action,
        "firm": {"name": "Steward"},
    }


def default_template(channel: str, language: str) -> tuple[str, str]:
    """(subject, body) in the client's language, for a channel without a template of its own."""
    with translation.override(language):
        subject = _("Something in your file needs your attention")
        if channel in ("sms", "whatsapp", "push"):
            body = _(
                "Dear {{ client.first_name }}, {{ alerts|length }} point(s) in your file need attention. "
                "Please see {{ link }}"
            )
        else:
            body = "\n".join(
                [
                    _("Dear {{ client.full_name }},"),
                    "",
                    _("While checking your file we noticed:"),
                    "{% for alert in alerts %}- {{ alert.type }}"
                    "{% if alert.due_date %} ({{ alert.due_date|date }}){% endif %}\n{% endfor %}",
                    "{% if call_to_action == 'self_service' %}"
                    + _("You can arrange this yourself in a few minutes:")
                    + " {{ link }}{% elif call_to_action == 'booking' %}"
                    + _("Please book a meeting with {{ advisor.name }}:")
                    + " {{ link }}{% else %}"
                    + _("More information:")
                    + " {{ link }}{% endif %}",
                    "",
                    _("Kind regards,"),
                    "{{ advisor.name }}",
                ]
            )
    return subject, body
