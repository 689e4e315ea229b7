from django.urls import path

from . import audit_views

app_name = "trust"

urlpatterns = [
    path("clients/<int:client_id>/history/", audit_views.client_history_view, name="client_history"),
    path(
        "clients/<int:client_id>/duty-of-care.<str:file_format>",
        audit_views.duty_of_care_download_view,
        name="duty_of_care",
    ),
]
