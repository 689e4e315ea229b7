"""The client's own page: opened from the emailed link, without logging in."""

from django.urls import path

from . import views

app_name = "confirm"

urlpatterns = [
    path("<str:token>/", views.confirmation_answer_view, name="answer"),
]
