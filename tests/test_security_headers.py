"""The attack surface a browser and a deployment see: the Content-Security-Policy, secure cookies,
Django's deployment checks, and no code that runs user data (eval, exec, pickle).

The CSP forbids inline scripts, inline event handlers and inline styles, so the templates must
contain none: `test_no_template_has_inline_script_handlers_or_styles` names the template and line of
every one (the browser test, tests/test_browser_csp.py, then proves the pages really load clean).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(settings.BASE_DIR)
# The project's own code: every top-level package, not the virtualenv or node_modules.
SKIP_DIRS = {".venv", "node_modules", ".git", "staticfiles", "media", "locale", "__pycache__", ".hypothesis"}


def project_files(*suffixes: str) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if path.suffix in suffixes and not SKIP_DIRS & set(path.relative_to(ROOT).parts):
            found.append(path)
    return sorted(found)


# --- The Content-Security-Policy ------------------------------------------------------------------


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "advisor", "back_office", "admin"])
def test_every_page_is_served_with_a_strict_content_security_policy(client, request, persona):
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    pages = {"anonymous": ["login"], "advisor": ["home", "clients:list", "alerts:dashboard", "accounts:mfa_setup"]}
    pages["back_office"] = ["home", "ingestion:sources", "canvas:board", "api:docs"]
    pages["admin"] = ["admin:index", "home"]
    for name in pages[persona]:
        response = client.get(reverse(name), follow=True)
        assert response.status_code == 200, name
        policy = directives(response["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"], name
        assert policy["script-src"] == ["'self'"], name  # no 'unsafe-inline', no 'unsafe-eval', no hosts
        assert policy["style-src"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], name
        assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"], name


def test_api_responses_carry_the_policy_too(client, advisor):
    client.force_login(advisor)
    response = client.get(reverse("api:client-list"))
    assert "default-src 'self'" in response["Content-Security-Policy"]


# A <script> element with content (not src=), an on...= attribute, a style= attribute, a <style>
# element, and javascript: links. Templates are HTML, so a regular expression per line is enough.
INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "htmx hx-on (evaluated code)": re.compile(r"\shx-on[:-]", re.I),
}


def test_no_template_has_inline_script_handlers_or_styles():
    found = []
    for template in project_files(".html"):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), start=1):
            line = re.sub(r"\{#.*?#\}", "", line)  # a template comment is not markup
            for what, pattern in INLINE.items():
                if pattern.search(line):
                    found.append(f"{template.relative_to(ROOT)}:{number}: {what}: {line.strip()[:100]}")
    assert not found, "The Content-Security-Policy refuses these; use static/js and static/css:\n" + "\n".join(found)


# --- Production settings: Django's deployment checks, cookies, the policy -------------------------

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "production-like-secret-key-" + "x" * 50,
    "ALLOWED_HOSTS": "steward.example",
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
}


def _production(command: list[str]) -> subprocess.CompletedProcess:
    # Not the test run's own switches (conftest.py allows async-unsafe ORM calls for Playwright).
    unset = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(PRODUCTION_ENV)
    for override in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"):
        env.pop(override, None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_the_deployment_checks_pass_with_production_settings_and_no_warnings():
    """`make check-deploy`: `manage.py check --deploy --fail-level WARNING`."""
    result = _production([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


PRINT_SETTINGS = """
import django, json
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in [
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "LANGUAGE_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "STEWARD_MFA_REQUIRED_FOR_ADMINS", "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "AXES_LOCKOUT_PARAMETERS",
    "CONTENT_SECURITY_POLICY", "X_FRAME_OPTIONS"]}))
"""


@pytest.mark.slow
def test_production_settings_have_secure_cookies_the_policy_login_throttle_and_admin_mfa():
    import json

    result = _production([sys.executable, "-c", PRINT_SETTINGS])
    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout)
    assert (
        production["SESSION_COOKIE_SECURE"]
        and production["CSRF_COOKIE_SECURE"]
        and production["LANGUAGE_COOKIE_SECURE"]
    )
    assert production["SESSION_COOKIE_HTTPONLY"]
    assert production["SESSION_COOKIE_SAMESITE"] == production["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert production["SECURE_SSL_REDIRECT"] and production["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production["STEWARD_MFA_REQUIRED_FOR_ADMINS"] is True
    assert (production["AXES_FAILURE_LIMIT"], production["AXES_COOLOFF_TIME"]) == (10, 1)
    assert production["AXES_LOCKOUT_PARAMETERS"] == ["username"]
    policy = production["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert production["X_FRAME_OPTIONS"] == "DENY"


# --- No code runs user data -----------------------------------------------------------------------

DANGEROUS = re.compile(
    r"\b(?:eval|exec)\s*\(|\bpickle\b|\bmarshal\.loads?\b|\byaml\.load\s*\(|\bshelve\b|\bos\.system\s*\("
    r"|\bshell\s*=\s*True|\b__import__\s*\(|\bcompile\s*\(\s*[^)]*['\"]exec['\"]"
)
# file -> what it may contain, and why. Everything else fails.
ALLOWED = {
    # This very test names them.
    "tests/test_security_headers.py": "the patterns themselves",
    # The audit hook lists the event names it refuses ("pickle", "exec", ...).
    "tests/sandbox.py": "audit event names",
    # Rule text such as eval("1") handed to the rule language, which must refuse it.
    "framework/tests/test_language.py": "hostile rule text",
    # Template text such as {{ cycler.__init__.__globals__.os.system('id') }} that the renderer must refuse.
    "tests/test_hostile_templates.py": "hostile template text",
}


def test_no_project_code_uses_eval_exec_or_pickle():
    """User data is never run or unpickled: rules go through the lark grammar, templates through
    the message renderer, syncs through JSON."""
    found = []
    for path in project_files(".py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if DANGEROUS.search(code) and '"""' not in code:
                found.append(f"{relative}:{number}: {line.strip()[:100]}")
    assert not found, "eval/exec/pickle and friends in project code (add to ALLOWED only with a reason):\n" + "\n".join(
        found
    )


def test_the_eval_grep_would_catch_a_call():
    assert DANGEROUS.search("value = eval(text)") and DANGEROUS.search("pickle.loads(blob)")
    assert DANGEROUS.search("subprocess.run(cmd, shell=True)")
    assert not DANGEROUS.search("evaluate(node)") and not DANGEROUS.search("framework_evaluate(")
