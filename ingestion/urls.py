from django.urls import path

from . import views, views_import

app_name = "ingestion"

urlpatterns = [
    path("", views.source_list_view, name="sources"),
    path("review/", views.review_queue_view, name="review"),
    path("review/<int:pk>/decide/", views.match_decide_view, name="match_decide"),
    path("quarantine/<int:pk>/retry/", views.quarantine_retry_view, name="quarantine_retry"),
    path("quarantine/<int:pk>/dismiss/", views.quarantine_dismiss_view, name="quarantine_dismiss"),
    path("webhooks/hubspot/<slug:key>/", views.hubspot_webhook_view, name="hubspot_webhook"),
    path("imports/<int:pk>/map/", views_import.file_import_map_view, name="import_map"),
    path("imports/<int:pk>/preview/", views_import.file_import_preview_view, name="import_preview"),
    path("imports/<int:pk>/apply/", views_import.file_import_apply_view, name="import_apply"),
    path("imports/<int:pk>/cancel/", views_import.file_import_cancel_view, name="import_cancel"),
    path("<slug:key>/import/", views_import.file_import_upload_view, name="import_upload"),
    path("<slug:key>/", views.source_detail_view, name="source"),
    path("<slug:key>/progress/", views.source_progress_view, name="progress"),
    path("<slug:key>/sync/", views.source_sync_now_view, name="sync_now"),
]
