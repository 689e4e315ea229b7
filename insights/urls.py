from django.urls import path

from . import views

app_name = "insights"

urlpatterns = [
    path("", views.index_view, name="index"),
    path("retention/", views.retention_view, name="retention"),
    path("refresh/", views.refresh_view, name="refresh"),
    path("export/<slug:table>.csv", views.export_view, name="export"),
]
