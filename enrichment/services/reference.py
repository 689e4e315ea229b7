"""Reference tables (postcode areas, house price index): loaded from CSV, validated, replaced whole.

A reference file starts with comment lines ("# ...") saying where its figures come from; they are
kept with the table (ReferenceDataset.origin), so every derived value can be traced to its source. A
file that does not say where its figures come from, or has one bad row, replaces nothing.
"""

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import HousePriceIndex, PostcodeArea, ReferenceDataset

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SHIPPED = {
    ReferenceDataset.Kind.POSTCODE_AREAS: DATA_DIR / "postcode_areas.csv",
    ReferenceDataset.Kind.HOUSE_PRICE_INDEX: DATA_DIR / "house_price_index.csv",
}
REGION_CODE = re.compile(r"^[A-Z]{2}[0-9]{2,4}$")
MAX_ERRORS = 20


@dataclass(frozen=True)
class ReferenceFile:
    origin: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number, row)


def reference_file_parse(text: str, *, columns: list[str]) -> ReferenceFile:
    """Split a reference CSV into its origin (the leading comment lines) and its rows; check the header."""
    lines = text.lstrip("\ufeff").splitlines()
    comments = []
    while lines and lines[0].startswith("#"):
        comments.append(lines.pop(0)[1:].strip())
    origin = "\n".join(comments).strip()
    first_line = len(comments) + 1
    if not origin:
        raise ValidationError(_("Start the file with comment lines (# ...) saying where its figures come from."))
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [name.strip() for name in reader.fieldnames or []]
    if header != columns:
        raise ValidationError(
            _("The columns must be exactly: %(expected)s (found: %(found)s).")
            % {"expected": ", ".join(columns), "found": ", ".join(header) or "-"}
        )
    rows = [
        (first_line + number, {key.strip(): (value or "").strip() for key, value in row.items() if key})
        for number, row in enumerate(reader, start=1)
    ]
    if not rows:
        raise ValidationError(_("The file has no rows."))
    return ReferenceFile(origin=origin, header=header, rows=rows)


def _raise_if(errors: list[str]) -> None:
    if errors:
        more = len(errors) - MAX_ERRORS
        shown = errors[:MAX_ERRORS] + ([_("… and %(count)s more") % {"count": more}] if more > 0 else [])
        raise ValidationError(shown)


def _integer(value: str, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


def postcode_areas_replace(*, text: str, file_name: str, user=None) -> ReferenceDataset:
    """Replace the postcode-area table with the file's rows (all or nothing)."""
    parsed = reference_file_parse(text, columns=["pc4_from", "pc4_to", "municipality", "province", "region"])
    areas, errors = [], []
    for line, row in parsed.rows:
        low, high = _integer(row["pc4_from"], 1000, 9999), _integer(row["pc4_to"], 1000, 9999)
        if low is None or high is None or low > high:
            errors.append(_("Line %(line)s: postcodes must be four digits, from ≤ to.") % {"line": line})
            continue
        if not row["province"] or not REGION_CODE.match(row["region"]):
            errors.append(_("Line %(line)s: a province and a region code such as PV26 are needed.") % {"line": line})
            continue
        areas.append(
            PostcodeArea(
                pc4_from=low,
                pc4_to=high,
                municipality=row["municipality"][:100],
                province=row["province"][:50],
                region=row["region"],
            )
        )
    _raise_if(errors)
    with transaction.atomic():
        PostcodeArea.objects.all().delete()
        PostcodeArea.objects.bulk_create(areas, batch_size=1000)
        return _dataset_record(ReferenceDataset.Kind.POSTCODE_AREAS, parsed, file_name, user)


def house_price_index_replace(*, text: str, file_name: str, user=None) -> ReferenceDataset:
    """Replace the house price index with the file's rows (all or nothing)."""
    parsed = reference_file_parse(text, columns=["region", "region_name", "year", "quarter", "index", "basis"])
    figures, errors, seen = [], [], set()
    for line, row in parsed.rows:
        year, quarter = _integer(row["year"], 1900, 2200), _integer(row["quarter"], 1, 4)
        try:
            index = Decimal(row["index"])
        except InvalidOperation:
            index = None
        if not REGION_CODE.match(row["region"]) or year is None or quarter is None:
            errors.append(_("Line %(line)s: needs a region code, a year and a quarter 1-4.") % {"line": line})
            continue
        if index is None or not index.is_finite() or index <= 0 or index >= Decimal("1000000"):
            errors.append(_("Line %(line)s: the index must be a positive number.") % {"line": line})
            continue
        if (row["region"], year, quarter) in seen:
            errors.append(_("Line %(line)s: this region and quarter occur twice.") % {"line": line})
            continue
        seen.add((row["region"], year, quarter))
        figures.append(
            HousePriceIndex(
                region=row["region"],
                region_name=row["region_name"][:100] or row["region"],
                year=year,
                quarter=quarter,
                index=index.quantize(Decimal("0.01")),
                basis=row["basis"][:30],
            )
        )
    _raise_if(errors)
    with transaction.atomic():
        HousePriceIndex.objects.all().delete()
        HousePriceIndex.objects.bulk_create(figures, batch_size=1000)
        return _dataset_record(ReferenceDataset.Kind.HOUSE_PRICE_INDEX, parsed, file_name, user)


REPLACERS = {
    ReferenceDataset.Kind.POSTCODE_AREAS: postcode_areas_replace,
    ReferenceDataset.Kind.HOUSE_PRICE_INDEX: house_price_index_replace,
}


def _dataset_record(kind: str, parsed: ReferenceFile, file_name: str, user) -> ReferenceDataset:
    dataset, _created = ReferenceDataset.objects.update_or_create(
        kind=kind,
        defaults={
            "file_name": file_name[:255],
            "origin": parsed.origin,
            "rows": len(parsed.rows),
            "loaded_at": timezone.now(),
            "loaded_by": user,
        },
    )
    return dataset


def reference_data_ensure(*, replace: bool = False) -> list[ReferenceDataset]:
    """Load the files shipped in enrichment/data/ into tables that are empty (or into all, with replace)."""
    loaded = []
    tables = {
        ReferenceDataset.Kind.POSTCODE_AREAS: PostcodeArea,
        ReferenceDataset.Kind.HOUSE_PRICE_INDEX: HousePriceIndex,
    }
    for kind, path in SHIPPED.items():
        if replace or not tables[kind].objects.exists():
            loaded.append(REPLACERS[kind](text=path.read_text(encoding="utf-8"), file_name=path.name))
    return loaded
