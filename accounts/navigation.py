"""The navigation: the areas of Steward, each opened by a permission.

An area whose page does not exist yet (its issue is still open) is shown greyed out, so the map
of the product is visible without pretending a feature exists.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    url_name: str
    permission: str


AREAS = [
    Area("clients", _("Clients"), "clients:list", "accounts.access_clients"),
    Area("sources", _("Sources"), "ingestion:sources", "accounts.access_sources"),
    Area("framework", _("Framework"), "framework:index", "accounts.access_framework"),
    Area("alerts", _("Alerts"), "alerts:dashboard", "accounts.access_alerts"),
    Area("canvas", _("Canvas"), "canvas:board", "accounts.access_canvas"),
    Area("followup", _("Follow-up"), "followup:playbooks", "accounts.access_followup"),
    # Advisors reach their team's calls and booked meetings here (back office through Follow-up too).
    Area("calls", _("Calls & agenda"), "followup:calls", "followup.view_calltask"),
    Area("insights", _("Insights"), "insights:index", "accounts.access_insights"),
]


def areas_for(user) -> list[dict]:
    """The areas this user may use, each with its URL (None while the area has no page yet)."""
    items = []
    for area in AREAS:
        if not user.has_perm(area.permission):
            continue
        try:
            url = reverse(area.url_name)
        except NoReverseMatch:
            url = None
        items.append({"key": area.key, "label": area.label, "url": url})
    return items
