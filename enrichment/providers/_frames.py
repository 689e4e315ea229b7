"""Frames several providers read, loaded once per batch (see `Batch.cached`)."""

import pandas as pd

from clients.models import Client, Property

from . import Batch, frame


def clients_frame(batch: Batch) -> pd.DataFrame:
    """The batch's clients' own columns: birth date, marital status, household, postcode."""

    def load() -> pd.DataFrame:
        rows = Client.objects.filter(batch.clients("id")).values_list(
            "id", "birth_date", "marital_status", "household_id", "postcode"
        )
        data = frame(rows, ["client_id", "birth_date", "marital_status", "household_id", "postcode"])
        data["household_id"] = data["household_id"].astype("Int64")
        return batch.reindex(data)

    return batch.cached("clients", load)


def own_homes_frame(batch: Batch) -> pd.DataFrame:
    """Each client's own home (primary residence): the most recently valued one when there are several."""

    def load() -> pd.DataFrame:
        rows = Property.objects.filter(batch.clients(), deleted_at__isnull=True, is_primary_residence=True).values_list(
            "client_id", "id", "market_value", "market_value_date", "woz_value", "woz_year", "rebuild_value", "postcode"
        )
        data = frame(
            rows,
            [
                "client_id",
                "property_id",
                "market_value",
                "market_value_date",
                "woz_value",
                "woz_year",
                "rebuild_value",
                "postcode",
            ],
            index=None,
        )
        if not data.empty:
            valued = pd.to_datetime(data["market_value_date"])
            data = (
                data.assign(_valued=valued)
                .sort_values(["client_id", "_valued", "property_id"], na_position="first")
                .drop_duplicates("client_id", keep="last")
                .drop(columns="_valued")
            )
        return batch.reindex(data.set_index("client_id"))

    return batch.cached("own_homes", load)


def age_on(birth_dates: pd.Series, day) -> pd.Series:
    """Whole years between each birth date and `day` (NaN where there is no birth date)."""
    born = pd.to_datetime(birth_dates, errors="coerce")  # out-of-range dates become NaT
    years = day.year - born.dt.year
    before_birthday = (born.dt.month > day.month) | ((born.dt.month == day.month) & (born.dt.day > day.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")
