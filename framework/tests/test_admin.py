"""Admins edit rules as structured forms; invalid expressions are refused with line and column."""

import pytest
from django import forms as forms_module
from django.urls import reverse

from framework import services
from framework.models import FrameworkChange, FrameworkVersion

pytestmark = pytest.mark.django_db

INLINES = ("reported_values", "condition_nodes", "decision_inputs", "decision_rows")


def management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def rule_form(version, **overrides) -> dict:
    data = {
        "version": str(version.pk),
        "key": "old_age",
        "position": "1",
        "name": "Old age",
        "enabled": "on",
        "alert_type": "old_age",
        "urgency": "normal",
        "message_template": "Age {age}",
        "kind": "expression",
        "condition": "facts.age >= limit",
        "hit_policy": "first",
        "parameters": '{"limit": 90}',
        "deadline": "",
        **{key: value for inline in INLINES for key, value in management(inline).items()},
        **management("reported_values", total=1),
        "reported_values-0-position": "1",
        "reported_values-0-label": "age",
        "reported_values-0-expression": "facts.age",
    }
    data.update(overrides)
    return data


@pytest.fixture
def draft(admin, default_framework):
    return services.framework_version_copy(version=default_framework, user=admin, name="Draft 2027")


def test_an_invalid_condition_is_refused_with_line_column_and_what_was_expected(client, admin, draft):
    client.force_login(admin)
    condition = "facts.age >= limit\nand and facts.has_dependants"
    response = client.post(reverse("admin:framework_rule_add"), rule_form(draft, condition=condition))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Line 2, column 5: unexpected &#x27;and&#x27;; expected" in content
    assert not draft.rules.filter(key="old_age").exists()


def test_an_unknown_field_is_refused_with_a_suggestion(client, admin, draft):
    client.force_login(admin)
    response = client.post(reverse("admin:framework_rule_add"), rule_form(draft, condition="facts.agee >= limit"))
    assert "Line 1, column 7: facts has no field &#x27;agee&#x27;; did you mean age?" in response.content.decode()


def test_an_invalid_reported_value_is_refused_in_its_inline(client, admin, draft):
    client.force_login(admin)
    data = rule_form(draft, **{"reported_values-0-expression": "sum(policies.kind)"})
    response = client.post(reverse("admin:framework_rule_add"), data)
    assert "sum() of text is not defined" in response.content.decode()


def test_a_message_quoting_an_unreported_value_is_refused(client, admin, draft):
    client.force_login(admin)
    response = client.post(reverse("admin:framework_rule_add"), rule_form(draft, message_template="Age {years}"))
    assert "{years}, which are not reported values" in response.content.decode()


def test_a_valid_rule_is_saved_and_the_changelog_names_the_admin(client, admin, draft):
    client.force_login(admin)
    response = client.post(reverse("admin:framework_rule_add"), rule_form(draft))
    assert response.status_code == 302
    rule = draft.rules.get(key="old_age")
    assert rule.reported_values.get().expression == "facts.age"
    changes = FrameworkChange.objects.filter(version=draft, rule=rule, user=admin)
    assert changes.filter(field="condition", new_value="facts.age >= limit").exists()
    assert changes.filter(field="reported value age: expression").exists()


def test_a_broken_decision_tree_is_refused(client, admin, draft):
    client.force_login(admin)
    data = rule_form(
        draft,
        kind="tree",
        condition="",
        **management("condition_nodes", total=2),
        **{
            "condition_nodes-0-outline": "1",
            "condition_nodes-0-kind": "not",
            "condition_nodes-0-expression": "",
            "condition_nodes-1-outline": "1.2.1",
            "condition_nodes-1-kind": "condition",
            "condition_nodes-1-expression": "facts.has_dependants",
        },
    )
    response = client.post(reverse("admin:framework_rule_add"), data)
    assert "node 1.2.1: its parent node is missing" in response.content.decode()


def form_data(response) -> dict:
    """What the browser would post back for the change form as it is shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()})
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, forms_module.BooleanField):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None:
                data[form.add_prefix(name)] = value
    return data


def test_decision_table_rows_get_one_test_per_column(client, admin, draft):
    client.force_login(admin)
    rule = draft.rules.get(key="pension_gap")
    url = reverse("admin:framework_rule_change", args=[rule.pk])
    response = client.get(url)
    assert "Replacement ratio" in response.content.decode()
    data = form_data(response)
    assert (data["decision_rows-0-cell_0"], data["decision_rows-0-cell_1"]) == (">= min_age", "< target_ratio")

    data["decision_rows-0-cell_1"] = "< 0.65"
    assert client.post(url, data).status_code == 302
    assert rule.decision_rows.order_by("position").first().cells == [">= min_age", "< 0.65"]
    assert FrameworkChange.objects.filter(rule=rule, field="decision table row 1: cells", user=admin).exists()

    data["decision_rows-0-cell_1"] = "< < 0.65"
    response = client.post(url, data)
    assert "column Replacement ratio: Line 1, column 3: unexpected &#x27;&lt;&#x27;" in response.content.decode()


def test_an_active_version_is_read_only(client, admin, default_framework):
    client.force_login(admin)
    rule = default_framework.rules.first()
    url = reverse("admin:framework_rule_change", args=[rule.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(url, rule_form(default_framework)).status_code == 403


def test_the_activate_action_retires_the_active_version(client, admin, draft, default_framework):
    client.force_login(admin)
    response = client.post(
        reverse("admin:framework_frameworkversion_changelist"),
        {"action": "activate", "_selected_action": [str(draft.pk)]},
        follow=True,
    )
    assert "Draft 2027 is now the active framework" in response.content.decode()
    assert FrameworkVersion.objects.get(pk=default_framework.pk).status == "retired"
    assert FrameworkVersion.objects.get(pk=draft.pk).status == "active"


def test_the_copy_action_makes_a_new_draft(client, admin, default_framework):
    client.force_login(admin)
    client.post(
        reverse("admin:framework_frameworkversion_changelist"),
        {"action": "copy_to_new_draft", "_selected_action": [str(default_framework.pk)]},
    )
    copy = FrameworkVersion.objects.get(copied_from=default_framework)
    assert copy.status == "draft" and copy.rules.count() == default_framework.rules.count()


def test_advisors_cannot_open_the_framework_admin(client, advisor):
    client.force_login(advisor)
    assert client.get(reverse("admin:framework_rule_changelist")).status_code in (302, 403)


def test_a_rule_becomes_a_decision_tree_in_one_save(client, admin, draft):
    client.force_login(admin)
    data = rule_form(
        draft,
        kind="tree",
        condition="",
        **management("condition_nodes", total=3),
        **{
            "condition_nodes-0-outline": "1",
            "condition_nodes-0-kind": "any",
            "condition_nodes-1-outline": "1.1",
            "condition_nodes-1-kind": "condition",
            "condition_nodes-1-expression": "facts.age >= limit",
            "condition_nodes-2-outline": "1.2",
            "condition_nodes-2-kind": "condition",
            "condition_nodes-2-expression": "facts.has_dependants is false",
        },
    )
    assert client.post(reverse("admin:framework_rule_add"), data).status_code == 302
    rule = draft.rules.get(key="old_age")
    assert list(rule.condition_nodes.order_by("outline").values_list("outline", flat=True)) == ["1", "1.1", "1.2"]
