"""The advisory framework: rules stored as data, grouped in versions.

A version is drafted, activated (which retires the one before) and then never edited again: a
change means copying it to a new draft. So every alert can be traced to the exact rules that
raised it, and `FrameworkChange` records who changed what in a draft, old value and new.

A rule's condition is an expression in the rule language (framework/language), a decision tree of
such expressions, or a decision table. Validation happens here, on save, with line and column;
evaluation lives in selectors.py.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.models import Purpose

from .rules import (
    condition_node_validate,
    decision_input_validate,
    decision_row_validate,
    reported_value_validate,
    rule_fields_validate,
)

IDENTIFIER = RegexValidator(
    r"^[a-z_][a-z0-9_]{0,59}$", _("Use lower-case letters, digits and underscores, starting with a letter.")
)
OUTLINE = RegexValidator(r"^[1-9][0-9]{0,2}(\.[1-9][0-9]{0,2}){0,9}$", _("Number the node like 1, 1.2 or 1.2.1."))


class Urgency(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class FrameworkVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT, editable=False)
    effective_date = models.DateField(
        _("effective from"), null=True, blank=True, help_text=_("Set to the day of activation when left empty.")
    )
    notes = models.TextField(_("notes"), blank=True, help_text=_("What changed in this version, and why."))
    copied_from = models.ForeignKey(
        "self", verbose_name=_("copied from"), related_name="copies", on_delete=models.SET_NULL, null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("framework version")
        verbose_name_plural = _("framework versions")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Alerts come from one framework at a time.
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="active"),
                name="framework_one_active_version",
                violation_error_message=_("Only one framework version can be active."),
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        """Only drafts change; an active or retired version is the record of what was applied."""
        return self.status == self.Status.DRAFT


class Rule(models.Model):
    class Kind(models.TextChoices):
        EXPRESSION = "expression", _("Expression")
        TREE = "tree", _("Decision tree")
        TABLE = "table", _("Decision table")

    class HitPolicy(models.TextChoices):
        FIRST = "first", _("First matching row")
        COLLECT = "collect", _("Every matching row")

    version = models.ForeignKey(FrameworkVersion, related_name="rules", on_delete=models.CASCADE)
    key = models.CharField(_("key"), max_length=60, validators=[IDENTIFIER], help_text=_("Unique in the version."))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    alert_type = models.CharField(
        _("alert type"), max_length=60, validators=[IDENTIFIER], help_text=_("e.g. fixed_rate_ending")
    )
    granule = models.CharField(
        _("granule"),
        max_length=60,
        blank=True,
        validators=[IDENTIFIER],
        help_text=_("The canvas segment this rule's alerts belong to; empty means the alert type."),
    )
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency, default=Urgency.NORMAL)
    enabled = models.BooleanField(_("enabled"), default=True)
    kind = models.CharField(_("condition kind"), max_length=10, choices=Kind, default=Kind.EXPRESSION)
    condition = models.TextField(
        _("condition"),
        blank=True,
        help_text=_("For an expression rule, e.g. facts.days_to_fixed_rate_end <= days"),
    )
    hit_policy = models.CharField(_("hit policy"), max_length=10, choices=HitPolicy, default=HitPolicy.FIRST)
    parameters = models.JSONField(
        _("parameters"), default=dict, blank=True, help_text=_('Named values the rule uses, e.g. {"days": 14}.')
    )
    deadline = models.TextField(
        _("deadline"),
        blank=True,
        help_text=_("Optional: the date the alert works towards, e.g. min(loan_parts.fixed_rate_end_date)"),
    )
    message_template = models.TextField(
        _("message"), help_text=_("Text with {name} for a reported value, e.g. 'Fixed rate ends on {end_date}'.")
    )
    legal_basis = models.TextField(
        _("legal or policy basis"), blank=True, help_text=_("e.g. Wft art. 4:24a (duty of care), or firm policy.")
    )
    # Purpose limitation (GDPR art. 5(1)(b)): a rule reads only fields whose register entry allows
    # its purpose (trust/privacy_register.py); checked when the rule is saved.
    purpose = models.CharField(
        _("purpose"),
        max_length=12,
        choices=Purpose,
        default=Purpose.ADVICE,
        help_text=_("Why the firm acts on this rule's alerts; a commercial rule may not read financial data."),
    )

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["version", "position", "key"]
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="framework_rule_key_unique")]

    def __str__(self):
        return f"{self.key}: {self.name}"

    @property
    def effective_granule(self) -> str:
        return self.granule or self.alert_type

    def clean(self):
        errors = rule_fields_validate(self)
        if errors:
            raise ValidationError(errors)


class ReportedValue(models.Model):
    """A value an alert shows (and its message may quote): a label and an expression."""

    rule = models.ForeignKey(Rule, related_name="reported_values", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    label = models.CharField(_("label"), max_length=60, validators=[IDENTIFIER])
    expression = models.TextField(_("expression"))

    class Meta:
        verbose_name = _("reported value")
        verbose_name_plural = _("reported values")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["rule", "label"], name="framework_reported_label_unique")]

    def __str__(self):
        return self.label

    def clean(self):
        reported_value_validate(self)


class ConditionNode(models.Model):
    """One node of a decision tree, placed by its outline number (1, 1.1, 1.2, 1.2.1 ...)."""

    class Kind(models.TextChoices):
        ALL = "all", _("All of (and)")
        ANY = "any", _("Any of (or)")
        NOT = "not", _("Not")
        CONDITION = "condition", _("Condition")

    rule = models.ForeignKey(Rule, related_name="condition_nodes", on_delete=models.CASCADE)
    outline = models.CharField(_("node"), max_length=40, validators=[OUTLINE])
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.CONDITION)
    expression = models.TextField(_("condition"), blank=True)

    class Meta:
        verbose_name = _("decision tree node")
        verbose_name_plural = _("decision tree")
        ordering = ["rule", "outline"]
        constraints = [models.UniqueConstraint(fields=["rule", "outline"], name="framework_tree_node_unique")]

    def __str__(self):
        return f"{self.outline} {self.get_kind_display()}"

    def clean(self):
        condition_node_validate(self)


class DecisionInput(models.Model):
    """A column of a decision table: the value its cells test, e.g. facts.age."""

    rule = models.ForeignKey(Rule, related_name="decision_inputs", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    label = models.CharField(_("label"), max_length=60)
    expression = models.TextField(_("value"))

    class Meta:
        verbose_name = _("decision table column")
        verbose_name_plural = _("decision table columns")
        ordering = ["position", "id"]

    def __str__(self):
        return self.label

    def clean(self):
        decision_input_validate(self)


class DecisionRow(models.Model):
    """A row of a decision table: one test per column ("-" for any value) and what a hit means."""

    rule = models.ForeignKey(Rule, related_name="decision_rows", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    cells = models.JSONField(
        _("tests"), default=list, blank=True, help_text=_('One per column, e.g. [">= 30", "< ratio"]')
    )
    granule = models.CharField(
        _("granule"), max_length=60, blank=True, validators=[IDENTIFIER], help_text=_("Empty means the rule's.")
    )
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency, blank=True, help_text=_("Empty means the rule's.")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("decision table row")
        verbose_name_plural = _("decision table rows")
        ordering = ["position", "id"]

    def __str__(self):
        return f"row {self.position}"

    def clean(self):
        decision_row_validate(self)


class FrameworkChange(models.Model):
    """Who changed what in a framework version: one row per changed field, old value and new."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        CHANGED = "changed", _("Changed")
        DELETED = "deleted", _("Deleted")
        COPIED = "copied", _("Copied")
        ACTIVATED = "activated", _("Activated")
        RETIRED = "retired", _("Retired")

    version = models.ForeignKey(FrameworkVersion, related_name="changes", on_delete=models.CASCADE)
    rule = models.ForeignKey(Rule, related_name="+", on_delete=models.SET_NULL, null=True, blank=True)
    rule_key = models.CharField(_("rule"), max_length=60, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True)
    changed_at = models.DateTimeField(_("when"), default=timezone.now)
    action = models.CharField(_("action"), max_length=10, choices=Action)
    field = models.CharField(_("what"), max_length=200, blank=True)
    old_value = models.TextField(_("old value"), blank=True)
    new_value = models.TextField(_("new value"), blank=True)

    class Meta:
        verbose_name = _("framework change")
        verbose_name_plural = _("framework changelog")
        ordering = ["-changed_at", "-id"]
        indexes = [
            # The changelog of one version, newest first (admin and the version's history page).
            models.Index(fields=["version", "-changed_at"], name="framework_change_version_idx")
        ]

    def __str__(self):
        return f"{self.changed_at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.rule_key} {self.field}".strip()


class ClientEvaluation(models.Model):
    """When the framework last evaluated a client, under which rules, and until when that answer holds.

    A night's run skips a client whose file did not change since (`ClientChange`), under the same
    rules (`rules_key`), while `valid_until` is still ahead: the first day on which a rule's answer
    for this client could move with the date alone (framework.horizon). Null: never by date alone.
    """

    client = models.OneToOneField(
        "clients.Client", primary_key=True, on_delete=models.CASCADE, related_name="framework_evaluation"
    )
    rules_key = models.CharField(max_length=32)
    evaluated_on = models.DateField()
    valid_until = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("client evaluation")
        verbose_name_plural = _("client evaluations")

    def __str__(self) -> str:
        return f"{self.client_id}: {self.evaluated_on} until {self.valid_until or '-'}"


class ClientChange(models.Model):
    """A client whose rule-readable data changed since the framework last evaluated it.

    Written by database triggers on every table a rule can read (framework.changes), so a change
    made by a sync, a bulk load, a queryset update or raw SQL is never missed; cleared by the run
    that evaluates the client. One row per client, however often it changed.
    """

    client_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return str(self.client_id)
