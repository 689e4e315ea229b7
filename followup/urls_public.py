"""The client's own pages, opened from a message's signed link, without logging in."""

from django.urls import path

from . import views

app_name = "followup_public"

urlpatterns = [
    path("<str:token>/", views.landing_view, name="landing"),
    path("<str:token>/self-service/<int:alert_id>/", views.self_service_view, name="self_service"),
    path("<str:token>/book/", views.book_view, name="book"),
    path("<str:token>/o.gif", views.pixel_view, name="pixel"),
]
