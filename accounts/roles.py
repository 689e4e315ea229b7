"""The three roles of Steward and what each may do.

A role is a Django group. The map below is the single declaration of each role's permissions;
`role_permissions_sync` makes the groups match it (at the first migration and after every migrate,
so that permissions of apps added later land in the right groups). Patterns use fnmatch on
"app_label.codename".
"""

from django.utils.translation import gettext_lazy as _

ADVISOR = "Advisor"
BACK_OFFICE = "Back office"
ADMIN = "Admin"

ROLE_LABELS = {ADVISOR: _("Advisor"), BACK_OFFICE: _("Back office"), ADMIN: _("Admin")}

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Advisors work their own team's clients and alerts.
    ADVISOR: [
        "accounts.access_clients",
        "accounts.access_alerts",
        "accounts.access_insights",
        "clients.view_*",
        # Follow-up: their team's call queue and booked meetings.
        "followup.view_calltask",
        "followup.change_calltask",
        "followup.view_booking",
        # A client's request to see their data (GDPR art. 15) goes through their own advisor.
        "trust.export_client_data",
        # The duty-of-care file of a client of their team, for the supervisor (AFM) on request.
        "trust.download_duty_of_care",
    ],
    # Back office runs the canvas, the follow-up and keeps an eye on the sources, for every team.
    BACK_OFFICE: [
        "accounts.access_clients",
        "accounts.access_sources",
        "accounts.access_alerts",
        "accounts.access_canvas",
        "accounts.access_followup",
        "accounts.access_insights",
        "accounts.view_all_teams",
        "clients.view_*",
        "ingestion.view_*",
        "ingestion.run_sync",
        "ingestion.change_matchcandidate",
        # Derived values and reference tables to read; client confirmations to send and review.
        "enrichment.view_*",
        "enrichment.add_confirmationrequest",
        "enrichment.change_confirmationrequest",
        # Follow-up: playbooks, templates, dispatch, call queue, agenda.
        "followup.*",
    ],
    # Admins configure sources, rules and users; they may do everything.
    ADMIN: ["*.*"],
}

ROLES = list(ROLE_PERMISSIONS)
