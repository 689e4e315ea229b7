"""Two-step login: an authenticator app (TOTP) offered to everyone and required for admins.

With STEWARD_MFA_REQUIRED_FOR_ADMINS on (production's default), an admin without a confirmed app
is sent to set one up before any page; a user with an app enters its code after the password before
any page, also when logging in through Django admin. With it off (`make demo`), the password alone
lets everyone in.
"""

import pytest
from django.test import override_settings
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import test_access_matrix
from tests.test_access_matrix import ELSEWHERE, LOGIN, POLICY, outcome_of

world = test_access_matrix.world  # the matrix's fixture: two teams, each with a client and an alert

pytestmark = pytest.mark.django_db
MFA_ON = override_settings(STEWARD_MFA_REQUIRED_FOR_ADMINS=True)


def code_of(device: TOTPDevice, *, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset * device.step
    return f"{totp.token():06d}"


def app_for(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def log_in(client, user, password, *, page="login"):
    return client.post(reverse(page), {"username": user.username, "password": password})


# --- Admins must set one up -----------------------------------------------------------------------


@MFA_ON
def test_an_admin_without_an_app_is_sent_to_set_one_up_before_any_page(client, admin, persona_password):
    log_in(client, admin, persona_password)
    for url in ["/", reverse("clients:list"), reverse("admin:index"), reverse("admin:accounts_user_changelist")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:mfa_setup")), url
    api = client.get(reverse("api:client-list"))
    assert api.status_code == 403 and api.json()["error"]["code"] == "second_factor_setup_required"
    # Logging out and the language switch still work.
    assert client.post(reverse("set_language"), {"language": "nl", "next": "/"}).status_code == 302
    assert client.post(reverse("logout")).status_code == 302


@MFA_ON
def test_an_admin_sets_up_an_app_by_scanning_and_confirming_a_code(client, admin, persona_password):
    log_in(client, admin, persona_password)
    page = client.get(reverse("accounts:mfa_setup"), {"next": reverse("admin:index")})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="mfa-required"' in html and "<svg" in html and page.context["secret"] in html
    device = TOTPDevice.objects.get(user=admin, confirmed=False)

    wrong = client.post(reverse("accounts:mfa_setup"), {"code": "000000", "next": reverse("admin:index")})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    device.refresh_from_db()
    assert not device.confirmed

    device.throttle_reset()  # django-otp delays the next try after a failure; the test does not wait
    right = client.post(reverse("accounts:mfa_setup"), {"code": code_of(device), "next": reverse("admin:index")})
    assert right.status_code == 302 and right["Location"] == reverse("admin:index")
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("admin:index")).status_code == 200


@MFA_ON
def test_an_admin_without_an_app_reaches_nothing_in_the_policy_but_the_second_factor_pages(world):
    """Walks every GET route of the access matrix (new routes included) as an admin without an app."""
    browser = world.browsers["admin"]
    reachable = {"accounts:mfa_setup", "accounts:mfa_verify"}
    leaked = []
    for name, probes in POLICY.items():
        for probe in probes:
            # Pages without a login (the login page, a client's links) are not behind the second factor.
            public = probe.expected["anonymous"] not in (LOGIN, 401)
            if probe.method != "get" or name in reachable or public:
                continue
            response = browser.get(probe.url(world))
            if outcome_of(response) == 200 or (
                response.status_code == 302 and not response["Location"].startswith(reverse("accounts:mfa_setup"))
            ):
                leaked.append(f"{name}: {response.status_code}")
    assert not leaked, leaked


@MFA_ON
def test_other_staff_are_offered_an_app_but_not_forced(client, advisor, back_office, persona_password):
    for user in (advisor, back_office):
        client.post(reverse("logout"))
        log_in(client, user, persona_password)
        page = client.get(reverse("clients:list"))
        assert page.status_code == 200
        assert reverse("accounts:mfa_setup") in page.content.decode()  # the offer, in the navigation bar
        offer = client.get(reverse("accounts:mfa_setup"))
        assert offer.status_code == 200 and 'data-testid="mfa-required"' not in offer.content.decode()


@override_settings(STEWARD_MFA_REQUIRED_FOR_ADMINS=False)
def test_in_the_demo_an_admin_logs_in_with_the_password_alone(client, admin, persona_password):
    assert log_in(client, admin, persona_password).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


# --- Whoever has an app enters its code -----------------------------------------------------------


@pytest.mark.parametrize("login_page", ["login", "admin:login"])
def test_a_user_with_an_app_enters_its_code_after_the_password(client, admin, persona_password, login_page):
    device = app_for(admin)
    log_in(client, admin, persona_password, page=login_page)
    held = client.get(reverse("admin:index"))
    assert held.status_code == 302 and held["Location"].startswith(reverse("accounts:mfa_verify"))
    api = client.get(reverse("api:alert-list"))
    assert api.status_code == 403 and api.json()["error"]["code"] == "second_factor_required"

    wrong = client.post(reverse("accounts:mfa_verify"), {"code": "123456", "next": reverse("admin:index")})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    assert client.get(reverse("admin:index")).status_code == 302

    device.refresh_from_db()
    device.throttle_reset()  # django-otp delays the next try after a failure; the test does not wait
    right = client.post(reverse("accounts:mfa_verify"), {"code": code_of(device), "next": reverse("admin:index")})
    assert right.status_code == 302 and right["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_an_advisor_who_turned_an_app_on_is_asked_for_its_code_too(client, advisor, persona_password):
    app_for(advisor)
    log_in(client, advisor, persona_password)
    response = client.get(reverse("clients:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:mfa_verify"))


def test_a_code_cannot_be_used_twice(client, advisor, persona_password):
    device = app_for(advisor)
    code = code_of(device)
    log_in(client, advisor, persona_password)
    assert client.post(reverse("accounts:mfa_verify"), {"code": code}).status_code == 302
    client.post(reverse("logout"))
    log_in(client, advisor, persona_password)
    again = client.post(reverse("accounts:mfa_verify"), {"code": code})
    assert again.status_code == 200 and again.context["form"].errors


def test_repeated_wrong_codes_are_slowed_down(client, advisor, persona_password):
    device = app_for(advisor)
    log_in(client, advisor, persona_password)
    client.post(reverse("accounts:mfa_verify"), {"code": "000000"})
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    # Even the right code is refused while the delay runs.
    refused = client.post(reverse("accounts:mfa_verify"), {"code": code_of(device)})
    assert refused.status_code == 200


def test_the_next_address_after_the_code_stays_on_this_site(client, advisor, persona_password):
    device = app_for(advisor)
    log_in(client, advisor, persona_password)
    response = client.post(reverse("accounts:mfa_verify"), {"code": code_of(device), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_the_policy_outcomes_for_the_second_factor_pages_hold_without_an_app(world):
    assert outcome_of(world.browsers["advisor"].get(reverse("accounts:mfa_verify"))) == ELSEWHERE
    assert outcome_of(world.browsers["anonymous"].get(reverse("accounts:mfa_setup"))) == LOGIN
