from .navigation import areas_for
from .selectors import user_role_label


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_areas": areas_for(user), "user_role_label": user_role_label(user)}
