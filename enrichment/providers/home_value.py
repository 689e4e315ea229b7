"""The own home's value indexed to today, and the loan-to-value against it.

indexed value = value x index(latest quarter, region) / index(valuation quarter, region)

The value is the market value with its valuation date; without one, the WOZ value (valued on 1 January
of the year before its WOZ year). The region is the price-index region of the home's postcode area
(reference.postcode_areas), else of the client's own postcode. The index is reference.house_price_index
(CBS "Bestaande koopwoningen; verkoopprijzen", replaceable in admin). A valuation newer than the latest
index quarter is not indexed.

loan-to-value = outstanding mortgage (all loan parts) / indexed value of the own home (0.8 is 80%).
"""

from datetime import timedelta

import numpy as np
import pandas as pd
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from ..selectors import house_price_index_frame, period_label, postcode_area_lookup
from . import Batch, Derived, Provider
from ._frames import clients_frame, own_homes_frame
from .mortgage import NO_MORTGAGE

NO_HOME = gettext_noop("no own home recorded")
NO_VALUE = gettext_noop("the home has neither a dated market value nor a WOZ value")
NO_POSTCODE = gettext_noop("no postcode for the home")
POSTCODE_NOT_IN_REFERENCE = gettext_noop("the postcode area is not in the reference table")
NO_INDEX = gettext_noop("the house price index has no figure for the region and valuation quarter")
NO_INDEXED_VALUE = gettext_noop("the indexed value of the own home is unknown")
BALANCE_UNKNOWN = gettext_noop("the outstanding mortgage is unknown")
NOTES = {
    # (the value is a market value, it was indexed): the note on the indexed value
    (True, True): gettext_noop(
        "market value of € %(value)s from %(valued)s, indexed to %(latest)s with the house price index of %(region)s"
    ),
    (False, True): gettext_noop(
        "WOZ value of € %(value)s from %(valued)s, indexed to %(latest)s with the house price index of %(region)s"
    ),
    (True, False): gettext_noop(
        "market value of € %(value)s from %(valued)s: newer than the latest index quarter (%(latest)s)"
    ),
    (False, False): gettext_noop(
        "WOZ value of € %(value)s from %(valued)s: newer than the latest index quarter (%(latest)s)"
    ),
}


def _periods(days: pd.Series) -> pd.Series:
    moment = pd.to_datetime(days, errors="coerce")
    return moment.dt.year * 4 + (moment.dt.month - 1) // 3


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    homes = own_homes_frame(batch)
    has_home = homes["property_id"].notna()

    # The value to index: a dated market value, else the WOZ value at its valuation date.
    market = homes["market_value"].notna() & homes["market_value_date"].notna()
    woz = ~market & homes["woz_value"].notna() & homes["woz_year"].notna()
    value = pd.to_numeric(homes["market_value"].where(market, homes["woz_value"].where(woz)), errors="coerce")
    woz_valued = pd.to_datetime(
        (homes["woz_year"].where(woz) - 1).astype("Int64").astype(str) + "-01-01", errors="coerce"
    )
    valued = pd.to_datetime(homes["market_value_date"].where(market), errors="coerce").fillna(woz_valued)
    valued_period = _periods(valued)

    # The region of the home's postcode area (or the client's own postcode).
    postcode = homes["postcode"].where(homes["postcode"].fillna("") != "", clients_frame(batch)["postcode"])
    pc4 = pd.to_numeric(postcode.fillna("").str[:4], errors="coerce")
    lookup, areas = postcode_area_lookup()
    row = pd.Series(np.where(pc4.notna(), lookup[pc4.fillna(0).astype(int).clip(0, 9999)], -1), index=batch.index)
    region = row.map(areas["region"]) if not areas.empty else pd.Series(np.nan, index=batch.index)

    index = house_price_index_frame()
    bounds = index.groupby("region")["period"].agg(["min", "max"])
    first, latest = region.map(bounds["min"]), region.map(bounds["max"])
    now_period = batch.today.year * 4 + (batch.today.month - 1) // 3
    then_period = valued_period.where(valued_period <= latest, latest)
    figures = dict(zip(index["region"] + ":" + index["period"].astype(str), index["index"], strict=True))

    def figure(periods: pd.Series) -> pd.Series:
        return (region.astype(str) + ":" + periods.astype("Int64").astype(str)).map(figures)

    indexed = (value * figure(latest.clip(upper=now_period)) / figure(then_period)).round(0)

    derived.unknown("indexed_property_value", NO_HOME, ~has_home)
    derived.unknown("indexed_property_value", NO_VALUE, has_home & value.isna())
    valuable = has_home & value.notna()
    derived.unknown("indexed_property_value", NO_POSTCODE, valuable & pc4.isna())
    derived.unknown("indexed_property_value", POSTCODE_NOT_IN_REFERENCE, valuable & pc4.notna() & region.isna())
    no_index = valuable & region.notna() & (indexed.isna() | (valued_period < first))
    derived.unknown("indexed_property_value", NO_INDEX, no_index)
    indexed = indexed.where(~no_index)
    derived.set("indexed_property_value", indexed)

    done = indexed.notna()
    region_names = index.drop_duplicates("region").set_index("region")["region_name"]
    params = pd.Series(
        [
            {
                "value": f"{amount:,.0f}",
                "valued": period_label(int(then)),
                "latest": period_label(int(last)),
                "region": name,
            }
            for amount, then, last, name in zip(
                value[done], valued_period[done], latest[done], region[done].map(region_names), strict=True
            )
        ],
        index=batch.index[done],
        dtype=object,
    )
    for (is_market, was_indexed), message in NOTES.items():
        selected = done & (market == is_market) & ((valued_period <= latest) == was_indexed)
        derived.note("indexed_property_value", message, selected, params)

    balance = pd.to_numeric(batch.facts["mortgage_balance"], errors="coerce")
    no_mortgage = batch.reasons["mortgage_balance"] == NO_MORTGAGE
    ratio = (balance / indexed).where(done & balance.notna() & (indexed > 0))
    derived.set("loan_to_value", ratio)
    derived.unknown("loan_to_value", NO_MORTGAGE, no_mortgage)
    derived.unknown("loan_to_value", BALANCE_UNKNOWN, ~no_mortgage & balance.isna())
    derived.unknown("loan_to_value", NO_INDEXED_VALUE, balance.notna() & ratio.isna())
    return derived


provider = Provider(
    key="home_value",
    label=_("House price index"),
    inputs=(
        "Property.market_value",
        "Property.market_value_date",
        "Property.woz_value",
        "Property.woz_year",
        "Property.postcode",
        "Client.postcode",
        "reference.postcode_areas",
        "reference.house_price_index",
        "facts.mortgage_balance",
    ),
    outputs=("indexed_property_value", "loan_to_value"),
    max_staleness=timedelta(days=7),
    compute=compute,
)
