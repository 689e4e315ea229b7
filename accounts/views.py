from django.shortcuts import render

from .navigation import areas_for


def home(request):
    """The landing page: the areas this user's role may use."""
    return render(request, "accounts/home.html", {"areas": areas_for(request.user)})
