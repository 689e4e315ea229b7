"""In a real browser: every page of Steward loads without a single Content-Security-Policy violation.

The pages are the access matrix's (tests/test_access_matrix.py): every GET route a persona may open
that answers an HTML page, so a new app's pages are included as soon as its routes have a policy,
plus Django admin's index, every model's list and the user forms. A violation is what Chromium
reports through `securitypolicyviolation` events and in the console ("Refused to ..."): an inline
script, an inline event handler, an inline style, or anything from another origin.
"""

import pytest
from django.conf import settings
from django.contrib import admin as django_admin
from django.test import Client as BrowserClient
from django.urls import NoReverseMatch, reverse

from tests import test_access_matrix
from tests.test_access_matrix import POLICY

world = test_access_matrix.world  # the matrix's fixture: two teams, each with a client and an alert

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PERSONAS = ["anonymous", "advisor", "back_office", "admin"]
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
    + `at ${event.sourceFile || "the page"}:${event.lineNumber}`);
});
"""


def html_pages(world, persona: str) -> list[str]:
    """The pages this persona opens with a 200 and an HTML document, as the test client sees them."""
    client = world.browsers[persona]
    pages = []
    for probes in POLICY.values():
        for probe in probes:
            if probe.method != "get" or probe.expected.get(persona) != 200:
                continue
            url = probe.url(world)
            response = client.get(url)
            is_html = response.get("Content-Type", "").startswith("text/html")
            if response.status_code == 200 and is_html and b"<html" in response.content[:2000].lower():
                pages.append(url)
    if persona == "admin":
        pages.append(reverse("admin:index"))
        for model in django_admin.site._registry:
            try:
                pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
            except NoReverseMatch:
                continue
        pages += [
            reverse("admin:accounts_user_add"),
            reverse("admin:accounts_user_change", args=[world.users["admin"].pk]),
        ]
    return sorted(set(pages))


def log_in_browser(context, live_server, user) -> None:
    session = BrowserClient()
    session.force_login(user)
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_loads_without_a_content_security_policy_violation(world, new_context, live_server, persona):
    context = new_context()
    if persona != "anonymous":
        log_in_browser(context, live_server, world.users[persona])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)

    pages = html_pages(world, persona)
    assert len(pages) >= {"anonymous": 2, "advisor": 4, "back_office": 10, "admin": 30}[persona], pages
    print(f"{persona}: {len(pages)} pages")
    violations = {}
    for path in pages:
        console.clear()
        page.goto(f"{live_server.url}{path}", wait_until="load")
        page.wait_for_timeout(150)  # scripts that run after load (htmx's first requests)
        found = page.evaluate("window.__cspViolations") + [
            text for text in console if "Content Security Policy" in text or "Refused to" in text
        ]
        if found:
            violations[path] = found
    context.close()
    assert not violations, f"CSP violations as {persona} on {len(violations)} of {len(pages)} pages:\n" + "\n".join(
        f"{path}: {found}" for path, found in violations.items()
    )


def test_the_walk_would_catch_an_inline_script_and_an_inline_handler(new_context, live_server):
    """The detector itself: Chromium blocks and reports inline code on our pages."""
    context = new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('login')}", wait_until="load")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.body.appendChild(script);
          document.body.setAttribute("onclick", "window.__handlerRan = true");
          document.body.click();
        }"""
    )
    page.wait_for_timeout(100)
    violations = page.evaluate("window.__cspViolations")
    assert len(violations) >= 2 and all("script-src" in violation for violation in violations), violations
    assert page.evaluate("window.__inlineRan === undefined && window.__handlerRan === undefined")
    context.close()
