from django.shortcuts import redirect, render

from .navigation import areas_for
from .roles import ADVISOR
from .selectors import user_role


def home(request):
    """The landing page: advisors go to their work queue; others see the areas their role may use."""
    if user_role(request.user) == ADVISOR and request.user.has_perm("accounts.access_alerts"):
        return redirect("alerts:dashboard")
    return render(request, "accounts/home.html", {"areas": areas_for(request.user)})
