"""Template tags other steps' pages use to show follow-up (included through settings hooks)."""

from django import template

from ..selectors import alert_followup_panel, client_timeline_panel

register = template.Library()


@register.simple_tag
def followup_client_timeline(client, user) -> dict:
    """This client's follow-up messages for the contact timeline (a fixed number of queries)."""
    return client_timeline_panel(client=client, user=user)


@register.simple_tag
def followup_alert_panel(alert, user) -> dict:
    return alert_followup_panel(alert=alert, user=user)
