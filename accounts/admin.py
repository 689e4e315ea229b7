from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Team, User


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name", "member_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, team):
        return team.member_count


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "first_name", "last_name", "team", "is_team_lead", "is_staff", "is_active"]
    list_filter = ["groups", "team", "is_team_lead", "is_staff", "is_active"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Team"), {"fields": ("team", "is_team_lead")}),
    )


# Authenticator apps (the second factor, accounts/mfa.py). django-otp's own admin shows each device's
# secret key and QR code to admins, and answers a 500 for an unknown id; ours only lists them, so an
# admin can remove a lost phone's app (its user then sets up a new one at /accounts/mfa/).
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class AuthenticatorAppAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # a user sets up their own app, scanning a code only they see
