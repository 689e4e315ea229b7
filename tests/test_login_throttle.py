"""Guessing passwords is throttled: at most 10 failed attempts per account an hour (django-axes).

The limit is per account, whatever address the guesses come from, and counts the login page and
Django admin's login alike. The 11th attempt is refused, even with the right password, until an
hour after the last failure.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.urls import reverse

pytestmark = pytest.mark.django_db

LIMIT = 10


def attempt(client, url_name: str, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse(url_name), {"username": username, "password": password}, REMOTE_ADDR=address)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("login_page", ["login", "admin:login"])
def test_the_eleventh_attempt_on_an_account_is_refused_even_with_the_right_password(
    client, admin, persona_password, login_page
):
    for number in range(LIMIT - 1):
        response = attempt(client, login_page, admin.username, f"wrong-{number}")
        assert response.status_code == 200  # the form again, with its error
    # The 10th failure is the last one counted; after it the account is locked.
    assert attempt(client, login_page, admin.username, "wrong-again").status_code == 429

    refused = attempt(client, login_page, admin.username, persona_password)
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    assert not is_logged_in(client)


def test_nine_failures_still_let_the_owner_in(client, advisor, persona_password):
    for number in range(LIMIT - 1):
        attempt(client, "login", advisor.username, f"wrong-{number}")
    assert attempt(client, "login", advisor.username, persona_password).status_code == 302
    assert is_logged_in(client)


def test_rotating_addresses_does_not_buy_more_guesses(client, advisor, persona_password):
    for number in range(LIMIT):
        attempt(client, "login", advisor.username, f"wrong-{number}", address=f"198.51.100.{number + 1}")
    assert attempt(client, "login", advisor.username, persona_password, address="192.0.2.99").status_code == 429


def test_the_login_page_and_the_admin_login_share_one_count(client, admin, persona_password):
    for number in range(LIMIT // 2):
        attempt(client, "login", admin.username, f"wrong-{number}")
        attempt(client, "admin:login", admin.username, f"wrong-admin-{number}")
    assert attempt(client, "admin:login", admin.username, persona_password).status_code == 429


def test_one_locked_account_does_not_lock_the_others(client, advisor, advisor_other_team, persona_password):
    for number in range(LIMIT):
        attempt(client, "login", advisor.username, f"wrong-{number}")
    assert attempt(client, "login", advisor_other_team.username, persona_password).status_code == 302


def test_the_lock_lifts_an_hour_after_the_last_failure(client, advisor, persona_password):
    for number in range(LIMIT):
        attempt(client, "login", advisor.username, f"wrong-{number}")
    assert attempt(client, "login", advisor.username, persona_password).status_code == 429

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=59))
    assert attempt(client, "login", advisor.username, persona_password).status_code == 429  # not yet
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=2))
    assert attempt(client, "login", advisor.username, persona_password).status_code == 302
    assert is_logged_in(client)
