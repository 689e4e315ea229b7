"""The canvas API's shapes: cards and changes out, a placement and a granulation in."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import AlertType, Quadrant

from .models import SCORE_MAX, PlacementChange
from .segments import Attribute


class CardSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_("alert type key|segment key; unique on the board"))
    alert_type = serializers.CharField()
    segment = serializers.CharField(allow_blank=True, help_text=_("Empty: the card of the whole alert type."))
    label = serializers.CharField()
    type_name = serializers.CharField()
    open_alerts = serializers.IntegerField()
    urgency = serializers.IntegerField(allow_null=True)
    advice_sensitivity = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField()
    quadrant = serializers.ChoiceField(choices=Quadrant.choices)


class PositionSerializer(serializers.Serializer):
    urgency = serializers.IntegerField()
    advice_sensitivity = serializers.IntegerField()


class ChangeSerializer(serializers.ModelSerializer):
    alert_type = serializers.SlugRelatedField(slug_field="key", read_only=True)
    by = serializers.SerializerMethodField()
    before = serializers.SerializerMethodField()
    after = serializers.SerializerMethodField()
    undoes = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = PlacementChange
        fields = ["id", "alert_type", "segment", "by", "at", "before", "after", "alerts_updated", "undoes", "split"]

    def get_by(self, change) -> str | None:
        return (change.user.get_full_name() or change.user.username) if change.user else None

    @extend_schema_field(PositionSerializer(allow_null=True))
    def get_before(self, change):
        return (
            {"urgency": change.from_urgency, "advice_sensitivity": change.from_advice_sensitivity}
            if change.was_placed
            else None
        )

    @extend_schema_field(PositionSerializer(allow_null=True))
    def get_after(self, change):
        return (
            {"urgency": change.to_urgency, "advice_sensitivity": change.to_advice_sensitivity}
            if change.is_placed
            else None
        )


class BoardSerializer(serializers.Serializer):
    cards = CardSerializer(many=True)
    change = ChangeSerializer(required=False, allow_null=True)


class PlacementInputSerializer(serializers.Serializer):
    alert_type = serializers.SlugRelatedField(slug_field="key", queryset=AlertType.objects.all())
    segment = serializers.CharField(required=False, allow_blank=True, max_length=60, default="")
    urgency = serializers.IntegerField(min_value=0, max_value=SCORE_MAX, allow_null=True)
    advice_sensitivity = serializers.IntegerField(
        min_value=0, max_value=SCORE_MAX, allow_null=True, help_text=_("Both null: back to the tray.")
    )


class GranulationInputSerializer(serializers.Serializer):
    alert_type = serializers.SlugRelatedField(slug_field="key", queryset=AlertType.objects.all())
    attribute = serializers.ChoiceField(
        choices=[("", _("The framework's granules")), *Attribute.choices], allow_blank=True
    )
    bounds = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)


class GranulationResultSerializer(serializers.Serializer):
    alerts_updated = serializers.IntegerField()
    cards = CardSerializer(many=True)
