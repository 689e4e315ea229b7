from django.urls import path

from . import views

app_name = "enrichment"

urlpatterns = [
    path("confirmations/", views.confirmation_list_view, name="confirmations"),
    path("confirmations/<int:pk>/", views.confirmation_detail_view, name="confirmation_detail"),
    path("confirmations/<int:pk>/review/", views.confirmation_review_view, name="confirmation_review"),
    path("clients/<int:client_id>/confirmation/", views.confirmation_send_view, name="confirmation_send"),
]
