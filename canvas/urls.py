"""The canvas's pages under /canvas/ and its API under /api/canvas/ (included at the root, before /api/)."""

from django.urls import path

from . import apis, views

app_name = "canvas"

urlpatterns = [
    path("canvas/", views.board_view, name="board"),
    path("canvas/place/", views.place_view, name="place"),
    path("canvas/undo/", views.undo_view, name="undo"),
    path("canvas/granulation/", views.granulation_view, name="granulation"),
    path("canvas/history/", views.history_view, name="history"),
    path("canvas/compare/", views.compare_view, name="compare"),
    path("canvas/export.svg", views.export_view, {"file_format": "svg"}, name="export-svg"),
    path("canvas/export.pdf", views.export_view, {"file_format": "pdf"}, name="export-pdf"),
    path("api/canvas/cards/", apis.CardListApi.as_view(), name="api-cards"),
    path("api/canvas/placements/", apis.PlacementApi.as_view(), name="api-place"),
    path("api/canvas/undo/", apis.UndoApi.as_view(), name="api-undo"),
    path("api/canvas/history/", apis.HistoryApi.as_view(), name="api-history"),
    path("api/canvas/granulation/", apis.GranulationApi.as_view(), name="api-granulation"),
]
