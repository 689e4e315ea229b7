"""Pages of insights: response analytics (/insights/), retention (/insights/retention/), CSV exports.

Thin: parse the filters, call the selectors, render. Chart data goes to the page as JSON through
`json_script` and is drawn by static/js/insights.js (no inline script: strict CSP).
"""

import csv
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.selectors import user_sees_all_teams

from . import selectors
from .forms import DEFAULT_WEEKS, InsightFilterForm, RetentionFilterForm
from .selectors import DIMENSIONS, METRICS, InsightFilters
from .tasks import refresh_insights

PERCENT_METRICS = {"response_rate"}


# What the page shows when a filter is not given; the form is bound with them, so its selects show
# the period and breakdown the figures are for (an unbound select shows its first option instead).
FILTER_DEFAULTS = {"weeks": str(DEFAULT_WEEKS), "dimension": "channel", "metric": "response_rate"}


def _filters(request) -> tuple[InsightFilterForm, InsightFilters]:
    form = InsightFilterForm({**FILTER_DEFAULTS, **request.GET.dict()}, user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    team = data.get("team")
    filters = InsightFilters.last_weeks(
        data.get("weeks") or DEFAULT_WEEKS,
        team_id=team.pk if team else None,
        dimension=data.get("dimension") or "channel",
        metric=data.get("metric") or "response_rate",
        alert_type=data.get("alert_type") or "",
        channel=data.get("channel") or "",
    )
    return form, filters


def _week_label(week: date) -> str:
    return formats.date_format(week, "j M")


def _response_context(request) -> dict:
    form, filters = _filters(request)
    facts = selectors.facts_visible_to(request.user, filters)
    rows = selectors.metrics_by(facts, filters.dimension)
    trend = selectors.weekly_trend(facts, filters)
    markers = selectors.change_markers(filters)
    recommendations = selectors.channel_recommendations(facts)
    week_index = {week: index for index, week in enumerate(filters.weeks)}
    trend_chart = {
        "kind": "line",
        "labels": [_week_label(week) for week in trend.weeks],
        "series": trend.series,
        "yLabel": str(METRICS[filters.metric]),
        "percent": filters.metric in PERCENT_METRICS,
        "markers": [
            {
                "index": week_index[marker.week],
                "kind": marker.kind,
                "label": f"{_week_label(marker.week)}: {marker.label}",
            }
            for marker in markers
            if marker.week in week_index
        ],
    }
    groups = rows[:-1]
    dimension_chart = {
        "kind": "bar",
        "labels": [row.label for row in groups],
        "series": [
            {
                "key": "rate",
                "label": str(METRICS["response_rate"]),
                "values": [row.value("response_rate") for row in groups],
            }
        ],
        "intervals": [
            [round(row.rate.low * 100, 1), round(row.rate.high * 100, 1)] if row.rate else None for row in groups
        ],
        "yLabel": str(METRICS["response_rate"]),
        "percent": True,
        "markers": [],
    }
    return {
        "form": form,
        "filters": filters,
        "dimension_label": DIMENSIONS[filters.dimension],
        "metric_label": METRICS[filters.metric],
        "rows": rows,
        "trend": trend,
        "trend_rows": [
            (label, [series["values"][index] for series in trend.series])
            for index, label in enumerate(trend_chart["labels"])
        ],
        "markers": markers,
        "recommendations": recommendations,
        "min_sample": selectors.MIN_SAMPLE,
        "trend_chart": trend_chart,
        "dimension_chart": dimension_chart,
        "refreshed_at": facts.refreshed_at,
        "may_refresh": user_sees_all_teams(request.user),
        "query": request.GET.urlencode(),
    }


@permission_required("accounts.access_insights", raise_exception=True)
def index_view(request):
    """Response analytics: per dimension, weekly trends with change markers, recommendations."""
    return render(request, "insights/index.html", _response_context(request))


def _retention_context(request) -> dict:
    form = RetentionFilterForm(request.GET or None, user=request.user)
    team = form.cleaned_data.get("team") if form.is_valid() else None
    figures = selectors.retention_figures(request.user, team.pk if team else None)
    years, concentration = figures.years, figures.concentration
    value_chart = {
        "kind": "stacked",
        "labels": [str(row["year"]) for row in years],
        "series": [
            {"key": "fees", "label": _("Advice fees"), "values": [float(row["fees"]) for row in years]},
            {"key": "commission", "label": _("Commission"), "values": [float(row["commission"]) for row in years]},
        ],
        "yLabel": _("EUR per year"),
        "currency": "EUR",
        "markers": [],
    }
    return {
        "form": form,
        "years": years,
        "concentration": concentration,
        "top_share": int(selectors.TOP_VALUE_SHARE * 100),
        "signals": figures.signals,
        "at_risk": figures.at_risk,
        "computed_at": figures.computed_at,
        "may_refresh": user_sees_all_teams(request.user),
        "min_signals": selectors.AT_RISK_MIN_SIGNALS,
        "value_chart": value_chart,
        "query": request.GET.urlencode(),
    }


@permission_required("accounts.access_insights", raise_exception=True)
def retention_view(request):
    """Client value per year, the clients that bring most of it, churn signals, valuable clients at risk."""
    return render(request, "insights/retention.html", _retention_context(request))


@require_POST
@permission_required("accounts.view_all_teams", raise_exception=True)
def refresh_view(request):
    """Recompute the figures of both pages now (in the background): the sums of the recent weeks and
    the retention snapshots. For back office and admins, whose figures span every team."""
    transaction.on_commit(refresh_insights.delay)
    messages.success(request, _("The figures are being refreshed; reload the page in a minute."))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("insights:index")
    return redirect(target)


# --- CSV ------------------------------------------------------------------------------------------


def _number(value):
    return "" if value is None else value


def _metric_table(context) -> tuple[list, list]:
    header = [
        str(context["dimension_label"]),
        _("Alerts raised"),
        _("Messages sent"),
        _("Responses"),
        _("Response rate"),
        _("95% interval low"),
        _("95% interval high"),
        _("Time to first response (median hours)"),
        _("Time to resolution (median hours)"),
        _("Meetings booked"),
        _("Advice given"),
    ]
    rows = [
        [
            row.label,
            row.alerts_raised,
            row.messages_sent,
            row.responses,
            _number(row.rate and round(row.rate.estimate, 4)),
            _number(row.rate and round(row.rate.low, 4)),
            _number(row.rate and round(row.rate.high, 4)),
            _number(row.hours_to_first_response and round(row.hours_to_first_response, 2)),
            _number(row.hours_to_resolution and round(row.hours_to_resolution, 2)),
            row.meetings_booked,
            row.advice_given,
        ]
        for row in context["rows"]
    ]
    return header, rows


def _trend_table(context) -> tuple[list, list]:
    trend = context["trend"]
    header = [_("Week starting"), *[series["label"] for series in trend.series]]
    rows = [
        [week.isoformat(), *[_number(series["values"][index]) for series in trend.series]]
        for index, week in enumerate(trend.weeks)
    ]
    return header, rows


def _markers_table(context) -> tuple[list, list]:
    return [_("Week starting"), _("Kind"), _("Change")], [
        [marker.week.isoformat(), marker.kind, marker.label] for marker in context["markers"]
    ]


def _recommendations_table(context) -> tuple[list, list]:
    header = [
        _("Group"),
        _("Better channel"),
        _("Other channel"),
        _("Rate ratio"),
        _("95% interval low"),
        _("95% interval high"),
        _("Messages (better)"),
        _("Messages (other)"),
        _("Response rate (better)"),
        _("Response rate (other)"),
    ]
    rows = [
        [
            rec.group_label,
            rec.better_label,
            rec.worse_label,
            round(rec.ratio.estimate, 3),
            round(rec.ratio.low, 3),
            round(rec.ratio.high, 3),
            rec.better_n,
            rec.worse_n,
            round(rec.better_rate.estimate, 4),
            round(rec.worse_rate.estimate, 4),
        ]
        for rec in context["recommendations"]
    ]
    return header, rows


def _years_table(context) -> tuple[list, list]:
    header = [_("Year"), _("Advice fees"), _("Commission"), _("Total"), _("Clients with revenue")]
    return header, [
        [row["year"], row["fees"], row["commission"], row["total"], row["clients"]] for row in context["years"]
    ]


def _clients_table(facts) -> tuple[list, list]:
    header = [_("Client number"), _("Name"), _("Value last year"), _("Products held"), _("Churn-risk signals")]
    return header, [
        [
            fact.client_id,
            fact.client.full_name,
            fact.client_value,
            _number(fact.products_held),
            _number(fact.churn_risk_signals),
        ]
        for fact in facts
    ]


def _signals_table(context) -> tuple[list, list]:
    signals = context["signals"]
    labels = {
        "clients": _("Clients"),
        "open_complaints": _("Open complaint"),
        "products_ending": _("Product ending within 90 days"),
        "no_contact": _("No contact for a year"),
        "falling_engagement": _("Falling engagement"),
        "at_risk": _("Two or more signals"),
    }
    return [_("Signal"), _("Clients")], [[labels[key], signals[key]] for key in labels]


TABLES = {
    "metrics": (_response_context, _metric_table),
    "trend": (_response_context, _trend_table),
    "markers": (_response_context, _markers_table),
    "recommendations": (_response_context, _recommendations_table),
    "value-per-year": (_retention_context, _years_table),
    "top-clients": (_retention_context, lambda context: _clients_table(context["concentration"].top)),
    "at-risk": (_retention_context, lambda context: _clients_table(context["at_risk"])),
    "churn-signals": (_retention_context, _signals_table),
}


@permission_required("accounts.access_insights", raise_exception=True)
def export_view(request, table: str):
    """Any table of the two pages as CSV, with the page's filters (and the same access)."""
    if table not in TABLES:
        raise Http404
    build_context, build_table = TABLES[table]
    header, rows = build_table(build_context(request))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="steward-insights-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
