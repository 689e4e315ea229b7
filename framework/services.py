"""Every write to the framework, each recording who changed what in the version's changelog.

Only drafts change. Activating a draft retires the active version in the same transaction, so
there is never a moment with two (or, after the first activation, zero) active frameworks.
"""

import json
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import (
    ConditionNode,
    DecisionInput,
    DecisionRow,
    FrameworkChange,
    FrameworkVersion,
    ReportedValue,
    Rule,
)
from .selectors import framework_problems

VERSION_FIELDS = ("name", "effective_date", "notes")
RULE_FIELDS = (
    "key",
    "position",
    "name",
    "description",
    "alert_type",
    "granule",
    "urgency",
    "enabled",
    "kind",
    "condition",
    "hit_policy",
    "parameters",
    "deadline",
    "message_template",
    "legal_basis",
    "purpose",
)
PART_FIELDS = {
    ReportedValue: ("position", "label", "expression"),
    ConditionNode: ("outline", "kind", "expression"),
    DecisionInput: ("position", "label", "expression"),
    DecisionRow: ("position", "cells", "granule", "urgency", "note"),
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _actor(user):
    """The user to remember; None for a migration, a task or an anonymous caller."""
    return user if user is not None and user.is_authenticated else None


def _record(*, version, user, action, rule=None, field="", old="", new="") -> FrameworkChange:
    return FrameworkChange.objects.create(
        version=version,
        rule=rule,
        rule_key=rule.key if rule is not None else "",
        user=_actor(user),
        action=action,
        field=field,
        old_value=_text(old),
        new_value=_text(new),
    )


def _require_draft(version: FrameworkVersion) -> None:
    if not version.is_editable:
        raise ValidationError(
            _("%(version)s is %(status)s and cannot change: copy it to a new draft.")
            % {"version": version.name, "status": version.get_status_display().lower()}
        )


def _stored(instance):
    """The row as it is in the database before this save (None for a new one)."""
    return type(instance).objects.filter(pk=instance.pk).first() if instance.pk else None


def _record_diff(*, version, user, rule, stored, instance, fields, prefix="") -> None:
    """One changelog row per field that differs from the stored row (per filled field, when new)."""
    action = FrameworkChange.Action.CHANGED if stored else FrameworkChange.Action.CREATED
    for name in fields:
        old = getattr(stored, name) if stored else None
        new = getattr(instance, name)
        if _text(old) != _text(new):
            _record(version=version, user=user, action=action, rule=rule, field=f"{prefix}{name}", old=old, new=new)


# --- Versions -------------------------------------------------------------------------------------


@transaction.atomic
def framework_version_save(*, version: FrameworkVersion, user) -> FrameworkVersion:
    """Create or edit a draft version's name, notes and effective date."""
    stored = _stored(version)
    if stored is not None:
        _require_draft(stored)
    else:
        version.status = FrameworkVersion.Status.DRAFT
        version.created_by = _actor(user)
    version.full_clean()
    version.save()
    _record_diff(version=version, user=user, rule=None, stored=stored, instance=version, fields=VERSION_FIELDS)
    return version


@transaction.atomic
def framework_version_copy(*, version: FrameworkVersion, user, name: str = "") -> FrameworkVersion:
    """A new draft with copies of every rule (and its parts) of `version`."""
    draft = FrameworkVersion.objects.create(
        name=name or _("%s (draft)") % version.name,
        notes=version.notes,
        copied_from=version,
        created_by=_actor(user),
    )
    rules = version.rules.prefetch_related("reported_values", "condition_nodes", "decision_inputs", "decision_rows")
    for rule in rules:
        parts = {
            ReportedValue: list(rule.reported_values.all()),
            ConditionNode: list(rule.condition_nodes.all()),
            DecisionInput: list(rule.decision_inputs.all()),
            DecisionRow: list(rule.decision_rows.all()),
        }
        rule.pk = None
        rule.version = draft
        rule._state.adding = True
        rule.save()
        for model, rows in parts.items():
            for row in rows:
                row.pk = None
                row._state.adding = True
                row.rule = rule
            model.objects.bulk_create(rows)
    _record(version=draft, user=user, action=FrameworkChange.Action.COPIED, old=version.name, new=draft.name)
    return draft


@transaction.atomic
def framework_version_activate(*, version: FrameworkVersion, user, today: date | None = None) -> FrameworkVersion:
    """Make a draft the framework in force; the version active until now is retired.

    Refused (ValidationError) unless every enabled rule compiles, and while the effective date
    lies in the future: activate a version on the day it takes effect.
    """
    today = today or timezone.localdate()
    # Lock the version first: two admins activating at once queue here, and the second is refused.
    version = FrameworkVersion.objects.select_for_update().get(pk=version.pk)
    _require_draft(version)
    problems = framework_problems(version=version)
    if problems:
        raise ValidationError(
            [
                _("Rule %(rule)s, %(where)s: %(message)s")
                % {"rule": problem.rule.key, "where": problem.where, "message": problem.message}
                for problem in problems
            ]
        )
    if version.effective_date and version.effective_date > today:
        raise ValidationError(
            _("%(version)s takes effect on %(date)s: activate it on that day.")
            % {"version": version.name, "date": version.effective_date.isoformat()}
        )
    now = timezone.now()
    for previous in FrameworkVersion.objects.select_for_update().filter(status=FrameworkVersion.Status.ACTIVE):
        previous.status = FrameworkVersion.Status.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["status", "retired_at"])
        _record(version=previous, user=user, action=FrameworkChange.Action.RETIRED, old="active", new="retired")
    version.status = FrameworkVersion.Status.ACTIVE
    version.effective_date = version.effective_date or today
    version.activated_by = _actor(user)
    version.activated_at = now
    version.save(update_fields=["status", "effective_date", "activated_by", "activated_at"])
    _record(version=version, user=user, action=FrameworkChange.Action.ACTIVATED, old="draft", new="active")
    return version


@transaction.atomic
def framework_version_delete(*, version: FrameworkVersion, user) -> None:
    """Only a draft can be deleted: an active or retired version explains alerts already raised."""
    _require_draft(version)
    version.delete()


# --- Rules and their parts ------------------------------------------------------------------------


@transaction.atomic
def rule_save(*, rule: Rule, user) -> Rule:
    """Validate and save a rule of a draft, recording each changed field."""
    _require_draft(FrameworkVersion.objects.select_for_update().get(pk=rule.version_id))
    stored = _stored(rule)
    if stored is not None and stored.version_id != rule.version_id:
        _require_draft(stored.version)  # moving a rule out of a version changes that version too
    rule.full_clean()
    rule.save()
    _record_diff(version=rule.version, user=user, rule=rule, stored=stored, instance=rule, fields=RULE_FIELDS)
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, user) -> None:
    _require_draft(rule.version)
    _record(version=rule.version, user=user, action=FrameworkChange.Action.DELETED, rule=rule, old=rule.name)
    rule.delete()


def _part_name(part) -> str:
    identity = getattr(part, "label", "") or getattr(part, "outline", "") or str(part.position)
    return f"{part._meta.verbose_name} {identity}"


@transaction.atomic
def rule_part_save(*, part, user):
    """Validate and save a reported value, tree node or table column/row of a draft's rule."""
    rule = part.rule
    _require_draft(rule.version)
    stored = _stored(part)
    part.full_clean()
    part.save()
    _record_diff(
        version=rule.version,
        user=user,
        rule=rule,
        stored=stored,
        instance=part,
        fields=PART_FIELDS[type(part)],
        prefix=f"{_part_name(part)}: ",
    )
    return part


@transaction.atomic
def rule_part_delete(*, part, user) -> None:
    rule = part.rule
    _require_draft(rule.version)
    _record(version=rule.version, user=user, action=FrameworkChange.Action.DELETED, rule=rule, field=_part_name(part))
    part.delete()
