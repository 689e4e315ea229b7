"""Template helpers for client data: EUR amounts in the user's locale, and values with provenance."""

import functools
import re
from datetime import date, datetime
from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from django import template
from django.db import models
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import timesince
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, to_locale

from clients.freshness import max_age_days, max_age_overrides

register = template.Library()


def _locale() -> str:
    return to_locale(get_language() or "en")


@register.filter
def euro(value) -> str:
    """'€ 245.000' in Dutch, '€245,000' in English; cents only where there are any."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    pattern = "¤ #,##0.00" if amount != amount.to_integral_value() else "¤ #,##0"
    if _locale().startswith("en"):
        pattern = pattern.replace("¤ ", "¤")
    return format_currency(amount, "EUR", format=pattern, locale=_locale(), currency_digits=False)


@register.filter
def percentage(value) -> str:
    if value is None:
        return ""
    return f"{format_decimal(Decimal(value), format='#,##0.0##', locale=_locale())}%"


def display_value(instance: models.Model, field_name: str) -> str:
    """The value of a field as a person reads it: choices by label, money in EUR, dates in the locale."""
    field = instance._meta.get_field(field_name)
    value = getattr(instance, field_name)
    if value is None or value == "":
        return "–"
    if field.choices:
        return str(getattr(instance, f"get_{field_name}_display")())
    if isinstance(field, models.BooleanField):
        return gettext("Yes") if value else gettext("No")
    if isinstance(field, models.DecimalField):
        if field.max_digits == 14:
            return euro(value)
        return percentage(value) if "rate" in field_name else str(value)
    if isinstance(value, datetime):
        return date_filter(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return date_filter(value, "SHORT_DATE_FORMAT")
    return str(value)


VALUE_HTML = '<span class="sourced-value{classes}" data-field="{field}" data-source="{source}"{hover}>{value}</span>'
BADGE_HTML = ' <span class="badge provenance {classes}" title="{title}">{label} · {age}</span>'


def _date(value) -> str:
    return date_filter(timezone.localtime(value) if isinstance(value, datetime) else value, "SHORT_DATE_FORMAT")


def _max_age_overrides(context) -> dict[str, int]:
    """The firm's maximum ages, read once per page render and kept in the render context."""
    cache = context.render_context
    if "steward_max_age_overrides" not in cache:
        cache["steward_max_age_overrides"] = max_age_overrides()
    return cache["steward_max_age_overrides"]


@register.simple_tag(takes_context=True)
def sourced(context, instance: models.Model, field_name: str, compact: bool = False):
    """A value with its source and age: as a badge, or (compact, in tables) on hover.

    Stale values stand out either way.
    """
    provenance = instance.provenance_for(field_name)
    model_name = instance.__class__.__name__
    max_age = max_age_days(model_name, field_name, _max_age_overrides(context))
    age_days = provenance.age_days()
    stale = age_days is not None and age_days > max_age
    details = [gettext("Source: %(source)s") % {"source": provenance.source_label}]
    if provenance.record_id:
        details.append(gettext("record %(id)s") % {"id": provenance.record_id})
    if provenance.derived_by:
        details.append(gettext("derived by %(by)s") % {"by": provenance.derived_by})
    if provenance.changed_at:
        details.append(gettext("changed %(date)s") % {"date": _date(provenance.changed_at)})
    if provenance.fetched_at:
        details.append(gettext("fetched %(date)s") % {"date": _date(provenance.fetched_at)})
    if stale:
        details.append(gettext("stale: older than %(days)s days") % {"days": max_age})
    age = timesince(provenance.as_of, depth=1) if provenance.as_of else gettext("age unknown")
    title = " · ".join(details)
    value_html = format_html(
        VALUE_HTML,
        classes=(" sourced-compact" if compact else "") + (" value-stale" if stale else ""),
        field=f"{model_name}.{field_name}",
        source=provenance.source,
        hover=format_html(' title="{} · {}" tabindex="0"', title, age) if compact else "",
        value=display_value(instance, field_name),
    )
    if compact:
        return value_html
    badge_html = format_html(
        BADGE_HTML,
        classes="text-bg-warning" if stale else "text-bg-light border",
        title=title,
        label=provenance.source_label,
        age=age,
    )
    return value_html + badge_html


# --- Long lists (the dashboard's 50 rows): the same output as the built-in tags, without their cost per row.

_URL_ID = 2_147_483_647  # a placeholder id no row has, replaced by the row's


@functools.lru_cache(maxsize=64)
def _url_pattern(view_name: str, script_prefix: str) -> str:
    return reverse(view_name, args=[_URL_ID])


@register.filter
def url_of(object_id, view_name: str) -> str:
    """`{% url view_name object_id %}` for a view with one id argument: reversed once per process.

    `reverse` walks the URL resolver each call (about 0.1 ms); a page of 50 alerts called it 100 times.
    """
    return _url_pattern(view_name, get_script_prefix()).replace(str(_URL_ID), str(int(object_id)))


@register.filter
def fill(pattern, value) -> str:
    """A translated pattern with one `%(…)s` placeholder, filled per row: `{% blocktranslate %}` costs
    a translation lookup and a template render per row. The result is escaped like any variable."""
    name = re.search(r"%\((\w+)\)s", str(pattern)).group(1)
    return str(pattern) % {name: value}


@register.filter
def shorten(text, length: int) -> str:
    """`truncatechars` for plain text: Django's walks the text character by character."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"
