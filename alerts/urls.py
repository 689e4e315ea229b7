from django.urls import path

from . import views

app_name = "alerts"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("bulk/", views.bulk_action_view, name="bulk"),
    path("<int:alert_id>/", views.alert_detail_view, name="detail"),
]
