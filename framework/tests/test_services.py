"""Versions move from draft to active to retired, and every change in a draft is in the changelog."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from framework import services
from framework.models import FrameworkChange, FrameworkVersion, ReportedValue, Rule
from framework.selectors import framework_version_active

pytestmark = pytest.mark.django_db


def draft_with_rule(admin, **rule_fields) -> tuple[FrameworkVersion, Rule]:
    version = services.framework_version_save(version=FrameworkVersion(name="2027"), user=admin)
    rule = Rule(
        version=version,
        key="old_age",
        name="Old age",
        alert_type="old_age",
        condition="facts.age >= limit",
        parameters={"limit": 90},
        message_template="Age {age}",
        **rule_fields,
    )
    services.rule_save(rule=rule, user=admin)
    services.rule_part_save(part=ReportedValue(rule=rule, label="age", expression="facts.age"), user=admin)
    return version, rule


def test_activating_a_draft_retires_the_active_version(admin, default_framework):
    draft, _rule = draft_with_rule(admin)
    services.framework_version_activate(version=draft, user=admin)
    default_framework.refresh_from_db()
    draft.refresh_from_db()
    assert (default_framework.status, draft.status) == ("retired", "active")
    assert framework_version_active() == draft
    assert draft.activated_by == admin and draft.effective_date == timezone.localdate()
    assert default_framework.retired_at is not None
    assert FrameworkChange.objects.filter(version=default_framework, action="retired", user=admin).exists()
    assert FrameworkChange.objects.filter(version=draft, action="activated", user=admin).exists()


def test_a_draft_with_an_invalid_rule_is_not_activated(admin, default_framework):
    draft, rule = draft_with_rule(admin)
    Rule.objects.filter(pk=rule.pk).update(condition="facts.age >=")  # e.g. a field renamed since it was saved
    with pytest.raises(ValidationError, match="old_age, condition: Line 1, column 13"):
        services.framework_version_activate(version=draft, user=admin)
    assert framework_version_active() == default_framework


def test_a_disabled_invalid_rule_does_not_block_activation(admin, default_framework):
    draft, rule = draft_with_rule(admin, enabled=False)
    Rule.objects.filter(pk=rule.pk).update(condition="facts.age >=")
    services.framework_version_activate(version=draft, user=admin)
    assert framework_version_active() == draft


def test_a_version_takes_effect_on_its_effective_date_not_before(admin, default_framework):
    draft, _rule = draft_with_rule(admin)
    draft.effective_date = timezone.localdate() + timedelta(days=7)
    services.framework_version_save(version=draft, user=admin)
    with pytest.raises(ValidationError, match="activate it on that day"):
        services.framework_version_activate(version=draft, user=admin)
    services.framework_version_activate(version=draft, user=admin, today=draft.effective_date)
    assert framework_version_active() == draft


def test_an_active_or_retired_version_cannot_change(admin, default_framework):
    rule = default_framework.rules.first()
    rule.name = "Changed after the fact"
    with pytest.raises(ValidationError, match="cannot change: copy it to a new draft"):
        services.rule_save(rule=rule, user=admin)
    with pytest.raises(ValidationError):
        services.framework_version_activate(version=default_framework, user=admin)
    with pytest.raises(ValidationError):
        services.framework_version_delete(version=default_framework, user=admin)


def test_copying_a_version_makes_an_independent_draft_with_every_part(admin, default_framework):
    draft = services.framework_version_copy(version=default_framework, user=admin)
    assert draft.status == "draft" and draft.copied_from == default_framework
    assert draft.rules.count() == default_framework.rules.count()
    pension = draft.rules.get(key="pension_gap")
    assert pension.decision_rows.count() == 2 and pension.decision_inputs.count() == 2
    assert draft.rules.get(key="dependants_without_life_cover").condition_nodes.count() == 5
    original = default_framework.rules.get(key="pension_gap")
    assert set(original.decision_rows.values_list("pk", flat=True)).isdisjoint(
        pension.decision_rows.values_list("pk", flat=True)
    )
    pension.name = "Pension gap (revised)"
    services.rule_save(rule=pension, user=admin)
    original.refresh_from_db()
    assert original.name == "Pension replacement ratio below 70%"
    assert FrameworkChange.objects.filter(version=draft, action="copied", old_value="Default framework").exists()


def test_the_changelog_records_who_changed_what_from_old_to_new(admin, default_framework):
    draft, rule = draft_with_rule(admin)
    rule.condition = "facts.age >= limit and facts.has_dependants"
    rule.parameters = {"limit": 85}
    services.rule_save(rule=rule, user=admin)
    changes = {
        change.field: (change.old_value, change.new_value)
        for change in FrameworkChange.objects.filter(version=draft, rule=rule, action="changed")
    }
    assert changes == {
        "condition": ("facts.age >= limit", "facts.age >= limit and facts.has_dependants"),
        "parameters": ('{"limit": 90}', '{"limit": 85}'),
    }
    assert set(FrameworkChange.objects.filter(version=draft, action="changed").values_list("user", flat=True)) == {
        admin.pk
    }
    created = FrameworkChange.objects.filter(version=draft, rule=rule, action="created")
    assert created.filter(field="condition", old_value="", new_value="facts.age >= limit").exists()
    assert created.filter(field="reported value age: expression", new_value="facts.age").exists()


def test_saving_an_invalid_rule_through_the_service_is_refused_with_its_position(admin, default_framework):
    _draft, rule = draft_with_rule(admin)
    rule.condition = 'count(policies[kind = "hoem"]) > 0'
    with pytest.raises(ValidationError) as caught:
        services.rule_save(rule=rule, user=admin)
    assert "Line 1, column 23" in caught.value.message_dict["condition"][0]


def test_deleting_a_part_is_recorded(admin, default_framework):
    draft, rule = draft_with_rule(admin)
    services.rule_part_delete(part=rule.reported_values.get(), user=admin)
    assert FrameworkChange.objects.filter(version=draft, action="deleted", field="reported value age").exists()
