from django.conf import settings
from django.utils.module_loading import import_string

from .navigation import areas_for
from .selectors import user_role_label


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    areas = areas_for(user)
    # Later steps put a count on their area (new urgent alerts, say), named in settings so this
    # foundation never imports them.
    for area in areas:
        badge_path = settings.STEWARD_NAV_BADGES.get(area["key"])
        if badge_path and area["url"]:
            area["badge"] = import_string(badge_path)(request)
    return {"nav_areas": areas, "user_role_label": user_role_label(user)}
