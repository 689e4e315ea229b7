"""In a real browser: the charts of /insights/ are drawn, in English and in Dutch, and follow a filter."""

import pytest
from django.utils import translation
from playwright.sync_api import expect

from clients.models import Channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWN = """canvas => {
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def drawn(page, test_id: str):
    chart = page.get_by_test_id(test_id)
    expect(chart).to_have_attribute("data-rendered", "true")
    assert chart.evaluate(DRAWN) > 500, f"{test_id} is blank"
    return chart


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_charts_are_drawn_and_follow_the_breakdown_filter(
    page, live_server, history, back_office, persona_password, language
):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: response.status >= 400 and "favicon" not in response.url and errors.append(response.url),
    )
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/insights/?weeks=4")
    assert page.evaluate("document.documentElement.lang") == language

    trend = drawn(page, "trend-chart")
    weeks = trend.get_attribute("data-labels").split("|")
    assert len(weeks) == 4
    # Chart.js formats its numbers in the page's language (decimal comma in Dutch).
    assert trend.evaluate("canvas => Chart.getChart(canvas).options.locale") == language
    assert trend.evaluate("canvas => Chart.getChart(canvas).scales.y.options.ticks.callback(12.5)") == (
        "12,5%" if language == "nl" else "12.5%"
    )
    dimension = drawn(page, "dimension-chart")
    with translation.override(language):  # the channels' names in the page's language ("E-mail" in Dutch)
        assert dimension.get_attribute("data-labels") == f"{Channel.EMAIL.label}|{Channel.SMS.label}"

    # A filter changes what is drawn: break down by alert type instead of channel.
    page.locator("select[name=dimension]").select_option("alert_type")
    page.wait_for_url("**dimension=alert_type**")
    dimension = drawn(page, "dimension-chart")
    by_type = dimension.get_attribute("data-labels").split("|")
    assert len(by_type) == 2 and "Email" not in by_type
    assert drawn(page, "trend-chart").get_attribute("data-points") != "0"
    assert not errors, errors


def test_the_retention_chart_is_drawn(page, live_server, advisor, persona_password):
    from datetime import date
    from decimal import Decimal

    from clients.models import ClientRevenue
    from clients.tests.factories import ClientFactory

    person = ClientFactory(team=advisor.team, advisor=advisor, household=None)
    for year in (date.today().year - 2, date.today().year - 1):
        ClientRevenue.objects.create(client=person, year=year, fees=Decimal("800"), commission=Decimal("300"))
    log_in(page, live_server, advisor, persona_password)
    page.goto(f"{live_server.url}/insights/retention/")
    chart = drawn(page, "value-chart")
    assert chart.get_attribute("data-points") == "4"  # two years, fees and commission
