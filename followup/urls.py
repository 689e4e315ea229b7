from django.urls import path

from . import views

app_name = "followup"

urlpatterns = [
    path("", views.playbooks_view, name="playbooks"),
    path("playbooks/new/", views.playbook_edit_view, name="playbook_new"),
    path("playbooks/<int:pk>/", views.playbook_edit_view, name="playbook_edit"),
    path("playbooks/<int:pk>/delete/", views.playbook_delete_view, name="playbook_delete"),
    path("playbooks/<int:pk>/move/", views.playbook_move_view, name="playbook_move"),
    path("dispatch/", views.dispatch_now_view, name="dispatch_now"),
    path("templates/", views.templates_view, name="templates"),
    path("templates/new/", views.template_edit_view, name="template_new"),
    path("templates/<int:pk>/", views.template_edit_view, name="template_edit"),
    path("outbox/", views.outbox_view, name="outbox"),
    path("outbox/<str:key>/", views.outbox_email_view, name="outbox_email"),
    path("calls/", views.calls_view, name="calls"),
    path("calls/<int:pk>/done/", views.call_done_view, name="call_done"),
    path("agenda/", views.agenda_view, name="agenda"),
    path("bookings/<int:pk>/", views.booking_view, name="booking"),
    path("webhooks/<slug:provider>/delivery/", views.delivery_webhook_view, name="delivery_webhook"),
]
