"""The impact preview: before activating a draft, what it would open and close, rule by rule."""

import pytest
from django.urls import reverse

from clients.tests.factories import LoanPartFactory
from framework.models import Rule
from framework.selectors import framework_impact
from framework.services import framework_version_copy

from .conftest import days_from_today

pytestmark = pytest.mark.django_db


@pytest.fixture
def loans_ending():
    """Three loan parts whose fixed-interest periods end in 10, 20 and 40 days."""
    return [LoanPartFactory(fixed_rate_end_date=days_from_today(days)) for days in (10, 20, 40)]


def test_widening_a_window_in_a_draft_shows_the_alerts_it_would_open(default_framework, admin, loans_ending):
    draft = framework_version_copy(version=default_framework, user=admin)
    rule = Rule.objects.get(version=draft, key="fixed_rate_ends_14_days")
    rule.parameters = {"days": 30}
    rule.save()
    impact = {item.key: item for item in framework_impact(draft=draft)}
    fourteen = impact["fixed_rate_ends_14_days"]
    assert (fourteen.fires_now, fourteen.fires_after, fourteen.would_open, fourteen.would_close) == (1, 2, 1, 0)
    assert fourteen.changed and fourteen.sample_open == (loans_ending[1].mortgage.client_id,)
    assert not impact["home_underinsured"].changed and impact["home_underinsured"].would_open == 0


def test_admin_shows_the_preview_on_a_page(client, default_framework, admin, loans_ending):
    draft = framework_version_copy(version=default_framework, user=admin)
    client.force_login(admin)
    page = client.get(reverse("admin:framework_frameworkversion_impact", args=[draft.pk]))
    assert page.status_code == 200
    assert 'data-rule="fixed_rate_ends_14_days"' in page.content.decode()
    change_form = client.get(reverse("admin:framework_frameworkversion_change", args=[draft.pk])).content.decode()
    assert 'data-testid="impact-link"' in change_form


def test_advisors_cannot_see_the_preview(client, default_framework, advisor):
    client.force_login(advisor)
    url = reverse("admin:framework_frameworkversion_impact", args=[default_framework.pk])
    assert client.get(url).status_code == 302  # to the admin login: advisors are not staff
