"""The API's view of the unified client view: read-only, and never the BSN unless it may be shown."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import (
    Asset,
    Client,
    ConsumerLoan,
    Income,
    InsurancePolicy,
    LoanPart,
    Mortgage,
    Pension,
    Property,
    Segment,
)
from .selectors import ClientFilters

# The largest id a BigAutoField (and SQLite's INTEGER) holds: a larger one in a request is a 400, not a
# database error (tests/test_api_fuzz.py found the crash).
MAX_ID = 2**63 - 1

# --- Input ----------------------------------------------------------------------------------------


class ClientFilterSerializer(serializers.Serializer):
    """The query parameters of the client list; the same search box as the client pages."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=_("Name, postcode (1234 AB or 1234), birth date (17-05-1980 or 1980-05-17) or email."),
    )
    advisor = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=_("The id of the client's advisor.")
    )
    team = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=_("The id of the client's team.")
    )
    segment = serializers.ChoiceField(choices=Segment.choices, required=False, allow_blank=True)

    def to_filters(self) -> ClientFilters:
        data = self.validated_data
        return ClientFilters(
            query=data.get("q", ""),
            advisor_id=data.get("advisor"),
            team_id=data.get("team"),
            segment=data.get("segment", ""),
        )


# --- Output ---------------------------------------------------------------------------------------


class TeamSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class HouseholdSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ClientListItemSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField()
    team = TeamSummarySerializer()
    advisor = UserSummarySerializer(allow_null=True)

    class Meta:
        model = Client
        fields = [
            "id",
            "full_name",
            "first_name",
            "initials",
            "last_name_prefix",
            "last_name",
            "birth_date",
            "postcode",
            "city",
            "email",
            "segment",
            "team",
            "advisor",
        ]
        read_only_fields = fields


class IncomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Income
        fields = ["id", "kind", "gross_annual_amount"]
        read_only_fields = fields


class PropertySerializer(serializers.ModelSerializer):
    class Meta:
        model = Property
        fields = [
            "id",
            "kind",
            "street",
            "house_number",
            "postcode",
            "city",
            "is_primary_residence",
            "market_value",
            "market_value_date",
            "woz_value",
            "woz_year",
            "rebuild_value",
        ]
        read_only_fields = fields


class LoanPartSerializer(serializers.ModelSerializer):
    class Meta:
        model = LoanPart
        fields = [
            "id",
            "part_number",
            "repayment_type",
            "principal",
            "outstanding_balance",
            "interest_rate",
            "fixed_rate_end_date",
            "end_date",
        ]
        read_only_fields = fields


class MortgageSerializer(serializers.ModelSerializer):
    loan_parts = LoanPartSerializer(many=True)

    class Meta:
        model = Mortgage
        fields = ["id", "lender", "loan_number", "start_date", "nhg", "property", "loan_parts"]
        read_only_fields = fields


class InsurancePolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = InsurancePolicy
        fields = [
            "id",
            "kind",
            "insurer",
            "policy_number",
            "insured_amount",
            "premium",
            "premium_frequency",
            "start_date",
            "end_date",
            "property",
        ]
        read_only_fields = fields


class PensionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pension
        fields = ["id", "kind", "provider", "accrued_annual_pension", "projected_annual_pension", "retirement_date"]
        read_only_fields = fields


class AssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["id", "kind", "institution", "balance", "balance_date"]
        read_only_fields = fields


class ConsumerLoanSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsumerLoan
        fields = ["id", "kind", "lender", "outstanding_balance", "monthly_payment", "end_date"]
        read_only_fields = fields


class ClientProductsSerializer(serializers.Serializer):
    """The client's current products (rows deleted in their source are left out). Amounts are euros."""

    incomes = IncomeSerializer(many=True)
    properties = PropertySerializer(many=True)
    mortgages = MortgageSerializer(many=True)
    policies = InsurancePolicySerializer(many=True)
    pensions = PensionSerializer(many=True)
    assets = AssetSerializer(many=True)
    consumer_loans = ConsumerLoanSerializer(many=True)


class ClientDetailSerializer(ClientListItemSerializer):
    household = HouseholdSummarySerializer(allow_null=True)
    bsn = serializers.SerializerMethodField()
    products = ClientProductsSerializer(source="*")

    class Meta(ClientListItemSerializer.Meta):
        fields = [
            *ClientListItemSerializer.Meta.fields,
            "gender",
            "marital_status",
            "education_level",
            "phone",
            "street",
            "house_number",
            "house_number_suffix",
            "country",
            "client_since",
            "household",
            "bsn",
            "products",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text=_(
                "Only where the firm processes the BSN (a legal basis is configured): in full for users who "
                "may reveal it, masked (*****1234) for others; null otherwise."
            ),
        )
    )
    def get_bsn(self, client: Client) -> str | None:
        if not settings.STEWARD_BSN_ENABLED or not client.bsn:
            return None
        if self.context["request"].user.has_perm("clients.reveal_bsn"):
            return client.bsn
        return client.masked_bsn
