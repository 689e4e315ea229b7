"""Django admin for the unified client view: search, filters, inlines; provenance read-only.

Values that came from a source are corrected in the source (or, later, as a manual correction with
its own precedence); admin shows where each row came from but never lets anyone forge that.
"""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import models

PROVENANCE_FIELDS = (
    "source",
    "source_record_id",
    "source_changed_at",
    "fetched_at",
    "provenance",
    "deleted_at",
)


class SourcedAdmin(admin.ModelAdmin):
    readonly_fields = (*PROVENANCE_FIELDS, "created_at", "updated_at")
    list_filter = ("source",)

    def get_fieldsets(self, request, obj=None):
        fields = [
            name
            for name in self.get_fields(request, obj)
            if name not in (*PROVENANCE_FIELDS, "created_at", "updated_at")
        ]
        return [
            (None, {"fields": fields}),
            (
                _("Provenance"),
                {"fields": (*PROVENANCE_FIELDS, "created_at", "updated_at"), "classes": ("collapse",)},
            ),
        ]


class SourcedInline(admin.TabularInline):
    extra = 0
    show_change_link = True
    readonly_fields = ("source", "source_changed_at")
    exclude = ("source_record_id", "fetched_at", "provenance", "deleted_at")


class IncomeInline(SourcedInline):
    model = models.Income


class EmploymentInline(SourcedInline):
    model = models.Employment


class ContactPreferenceInline(SourcedInline):
    model = models.ContactPreference


class PropertyInline(SourcedInline):
    model = models.Property
    fields = ("kind", "street", "house_number", "postcode", "city", "market_value", "rebuild_value", "source")


class MortgageInline(SourcedInline):
    model = models.Mortgage
    fields = ("lender", "loan_number", "start_date", "nhg", "source")


class PolicyInline(SourcedInline):
    model = models.InsurancePolicy
    fields = (
        "kind",
        "insurer",
        "insured_amount",
        "premium",
        "premium_frequency",
        "start_date",
        "end_date",
        "source",
    )


class PensionInline(SourcedInline):
    model = models.Pension


class AgreementInline(SourcedInline):
    model = models.Agreement


class ComplaintInline(SourcedInline):
    model = models.Complaint


@admin.register(models.Client)
class ClientAdmin(SourcedAdmin):
    list_display = (
        "last_name",
        "first_name",
        "birth_date",
        "postcode",
        "city",
        "team",
        "advisor",
        "segment",
        "source",
    )
    list_filter = ("team", "segment", "source", "gender", "deleted_at")
    search_fields = ("search_name", "email", "postcode")
    list_select_related = ("team", "advisor")
    autocomplete_fields = ("household", "advisor")
    show_full_result_count = False  # COUNT(*) over a million clients on every page is slow
    inlines = [
        EmploymentInline,
        IncomeInline,
        ContactPreferenceInline,
        PropertyInline,
        MortgageInline,
        PolicyInline,
        PensionInline,
        AgreementInline,
        ComplaintInline,
    ]

    def get_exclude(self, request, obj=None):
        # Without a legal basis the BSN is neither shown nor entered (STEWARD_BSN_ENABLED).
        if not settings.STEWARD_BSN_ENABLED or not request.user.has_perm("clients.reveal_bsn"):
            return ("bsn",)
        return ()


class FamilyMemberInline(SourcedInline):
    model = models.FamilyMember
    fk_name = "household"
    autocomplete_fields = ("client",)


@admin.register(models.Household)
class HouseholdAdmin(SourcedAdmin):
    search_fields = ("name",)
    list_display = ("name", "source")
    inlines = [FamilyMemberInline]


class LoanPartInline(SourcedInline):
    model = models.LoanPart


@admin.register(models.Mortgage)
class MortgageAdmin(SourcedAdmin):
    list_display = ("lender", "loan_number", "client", "nhg", "source")
    search_fields = ("loan_number", "lender", "client__search_name")
    list_select_related = ("client",)
    autocomplete_fields = ("client", "property")
    inlines = [LoanPartInline]


@admin.register(models.LoanPart)
class LoanPartAdmin(SourcedAdmin):
    list_display = (
        "mortgage",
        "part_number",
        "repayment_type",
        "outstanding_balance",
        "interest_rate",
        "fixed_rate_end_date",
    )
    list_filter = ("repayment_type", "source")
    search_fields = ("mortgage__loan_number", "mortgage__client__search_name")
    list_select_related = ("mortgage",)
    autocomplete_fields = ("mortgage",)
    date_hierarchy = "fixed_rate_end_date"


@admin.register(models.Property)
class PropertyAdmin(SourcedAdmin):
    list_display = ("__str__", "client", "market_value", "woz_value", "rebuild_value", "source")
    search_fields = ("street", "postcode", "city", "client__search_name")
    list_select_related = ("client",)
    autocomplete_fields = ("client",)


@admin.register(models.InsurancePolicy)
class InsurancePolicyAdmin(SourcedAdmin):
    list_display = ("kind", "insurer", "policy_number", "client", "insured_amount", "premium", "end_date")
    list_filter = ("kind", "source")
    search_fields = ("policy_number", "insurer", "client__search_name")
    list_select_related = ("client",)
    autocomplete_fields = ("client", "property")


@admin.register(models.Pension)
class PensionAdmin(SourcedAdmin):
    list_display = ("kind", "provider", "client", "accrued_annual_pension", "projected_annual_pension")
    list_filter = ("kind", "source")
    search_fields = ("provider", "client__search_name")
    list_select_related = ("client",)
    autocomplete_fields = ("client",)


def _simple_admin(model, list_display, list_filter=(), search=("client__search_name",)):
    admin_class = type(
        f"{model.__name__}Admin",
        (SourcedAdmin,),
        {
            "list_display": list_display,
            "list_filter": (*list_filter, "source"),
            "search_fields": search,
            "list_select_related": ("client",),
            "autocomplete_fields": ("client",),
        },
    )
    admin.site.register(model, admin_class)


_simple_admin(models.Employment, ("client", "kind", "employer", "job_title", "start_date"), ("kind",))
_simple_admin(models.Income, ("client", "kind", "gross_annual_amount"), ("kind",))
_simple_admin(
    models.ContactPreference,
    ("client", "purpose", "channel", "consent", "preferred"),
    ("purpose", "channel", "consent"),
)
_simple_admin(
    models.ContactMoment,
    ("client", "occurred_at", "channel", "direction", "subject"),
    ("channel", "direction"),
)
_simple_admin(models.Agreement, ("client", "description", "agreed_on", "due_date", "status"), ("status",))
_simple_admin(models.Complaint, ("client", "received_on", "subject", "status"), ("status",))
_simple_admin(models.MissedPayment, ("client", "product", "due_date", "amount", "paid_on"), ("product",))
_simple_admin(models.Asset, ("client", "kind", "institution", "balance"), ("kind",))
_simple_admin(models.ConsumerLoan, ("client", "kind", "lender", "outstanding_balance"), ("kind",))


@admin.register(models.ClientPageView)
class ClientPageViewAdmin(admin.ModelAdmin):
    """Read-only: a record of access must not be editable, not even by admins."""

    list_display = ("viewed_at", "user", "client")
    list_filter = ("user",)
    search_fields = ("client__search_name", "user__username")
    list_select_related = ("client", "user")
    date_hierarchy = "viewed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
