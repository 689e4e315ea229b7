"""Template tags other steps' pages use to show follow-up (included through settings hooks)."""

from django import template
from django.utils.translation import gettext_lazy as _

from ..models import Message
from ..selectors import alert_followup_panel, client_timeline_panel

register = template.Library()

# The steps of a message's life as MessageEvent.kind names them; statuses have their own labels.
EVENT_LABELS = {
    **dict(Message.Status.choices),
    "deferred": _("Deferred"),
    "retry": _("Retry"),
    "call_reached": _("Call: reached the client"),
    "call_no_answer": _("Call: no answer"),
}


@register.simple_tag
def followup_client_timeline(client, user) -> dict:
    """This client's follow-up messages for the contact timeline (a fixed number of queries)."""
    return client_timeline_panel(client=client, user=user)


@register.simple_tag
def followup_alert_panel(alert, user) -> dict:
    return alert_followup_panel(alert=alert, user=user)


@register.filter
def followup_event_label(kind: str) -> str:
    """A message event's kind in the reader's language ("delivered" → "Delivered")."""
    return str(EVENT_LABELS.get(kind, kind))
