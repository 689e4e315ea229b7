from django.urls import path

from . import privacy_views

app_name = "privacy"

urlpatterns = [
    path("register/", privacy_views.processing_register_view, name="register"),
    path(
        "clients/<int:client_id>/export.<str:file_format>",
        privacy_views.client_export_view,
        name="client_export",
    ),
]
