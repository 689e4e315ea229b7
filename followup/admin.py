from django.contrib import admin

from .models import (
    AdvisorAvailability,
    Booking,
    CallTask,
    ClientContactRules,
    Message,
    MessageEvent,
    MessageTemplate,
    Playbook,
    PlaybookChange,
    PlaybookStep,
    SelfServiceResponse,
)


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 0


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["name", "quadrant", "alert_type", "segment", "purpose", "call_to_action", "is_active", "position"]
    list_filter = ["quadrant", "is_active"]
    inlines = [PlaybookStepInline]


@admin.register(AdvisorAvailability)
class AdvisorAvailabilityAdmin(admin.ModelAdmin):
    list_display = ["advisor", "weekday", "start_time", "end_time", "slot_minutes"]
    list_filter = ["advisor"]


@admin.register(ClientContactRules)
class ClientContactRulesAdmin(admin.ModelAdmin):
    list_display = ["client", "opted_out", "language", "quiet_hours_start", "quiet_hours_end", "max_messages_per_week"]
    raw_id_fields = ["client"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["channel", "language", "playbook", "subject", "updated_at"]


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "kind", "detail"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """What happened is history: readable in admin, never edited there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "client", "channel", "status", "queued_at", "sent_at", "failure_reason"]
    list_filter = ["channel", "status"]
    raw_id_fields = ["client", "playbook"]
    inlines = [MessageEventInline]


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["client", "advisor", "starts_at", "status"]
    raw_id_fields = ["client", "alert", "message"]


@admin.register(CallTask)
class CallTaskAdmin(ReadOnlyAdmin):
    list_display = ["message", "team", "assigned_to", "outcome", "done_at"]


@admin.register(SelfServiceResponse)
class SelfServiceResponseAdmin(ReadOnlyAdmin):
    list_display = ["client", "flow_key", "completed_at"]


@admin.register(PlaybookChange)
class PlaybookChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "by", "playbook", "summary"]
