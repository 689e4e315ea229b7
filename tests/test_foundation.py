"""The foundation: login everywhere, roles and their navigation, health, settings from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def test_every_page_needs_a_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_page_is_open_to_everyone(client, db):
    assert client.get(reverse("login")).status_code == 200


def test_the_three_roles_exist_with_their_permissions(db):
    advisor = Group.objects.get(name="Advisor")
    back_office = Group.objects.get(name="Back office")
    admin = Group.objects.get(name="Admin")
    advisor_perms = set(advisor.permissions.values_list("codename", flat=True))
    assert {"access_clients", "access_alerts"} <= advisor_perms
    assert "view_all_teams" not in advisor_perms
    assert "access_canvas" not in advisor_perms
    assert {"access_canvas", "access_followup", "view_all_teams"} <= set(
        back_office.permissions.values_list("codename", flat=True)
    )
    assert "access_framework" in set(admin.permissions.values_list("codename", flat=True))


@pytest.mark.parametrize(
    ("persona", "visible", "hidden"),
    [
        (
            "advisor",
            {"clients", "alerts", "insights"},
            {"sources", "framework", "canvas", "followup", "admin"},
        ),
        ("back_office", {"clients", "sources", "alerts", "canvas", "followup"}, {"framework", "admin"}),
        ("admin", {"clients", "sources", "framework", "alerts", "canvas", "followup", "admin"}, set()),
    ],
)
def test_navigation_shows_what_the_role_may_use(client, request, persona, visible, hidden):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    html = client.get(reverse("home"), follow=True).content.decode()
    for area in visible:
        assert f'data-area="{area}"' in html, area
    for area in hidden:
        assert f'data-area="{area}"' not in html, area


def test_a_user_logs_in_with_username_and_password(client, advisor, persona_password):
    response = client.post(reverse("login"), {"username": "anouk", "password": persona_password})
    assert response.status_code == 302
    assert client.get(reverse("home"), follow=True).status_code == 200


def test_only_admins_reach_django_admin(client, advisor, admin):
    client.force_login(advisor)
    assert client.get("/admin/").status_code == 302  # to admin's login: advisors are not staff
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200


def test_healthz_reports_database_and_broker_without_login(client, db, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == ("ok" if settings.REDIS_URL else "eager")


def test_healthz_answers_503_when_the_broker_is_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "fail", "database": "ok", "broker": "down"}


def test_the_page_is_in_dutch_when_the_user_chooses_dutch(client, advisor):
    client.force_login(advisor)
    client.post(reverse("set_language"), {"language": "nl", "next": "/"})
    html = client.get(reverse("home"), follow=True).content.decode()
    assert "Klanten" in html
    assert "Uitloggen" in html


def _clean_environment(**overrides):
    """The environment of a real deployment: no test-only switches."""
    environment = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY"}}
    return {**environment, "DJANGO_SETTINGS_MODULE": "config.settings.base", **overrides}


def _manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_deploy_check_passes_with_production_values():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x7!kQ2@pL9#mZ4$wR8%tY1^uI6&oP3*aS5(dF0)gH2-jK7_lZ9+xC4=vB1",
        ALLOWED_HOSTS="steward.example",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_production_start_refuses_a_missing_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_setup_demo_is_idempotent_and_creates_the_demo_logins(tmp_path):
    env = {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    first = _manage("setup_demo", **env, REDIS_URL="")
    second = _manage("setup_demo", **env, REDIS_URL="")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for username in ("advisor", "advisor2", "backoffice", "admin"):
        assert username in second.stdout
    assert "steward-demo" in second.stdout


def test_the_browser_finds_the_icon_on_every_page_and_without_a_login(client, advisor):
    client.force_login(advisor)
    assert 'rel="icon" href="/static/img/favicon.svg"' in client.get(reverse("alerts:dashboard")).content.decode()
    client.logout()
    response = client.get(reverse("favicon"))
    assert response.status_code == 301 and response.url == "/static/img/favicon.svg"
