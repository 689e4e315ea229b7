"""File uploads into a file source: read a CSV or Excel file, map its columns, preview, apply.

A file goes through the same engine as an API sync (`page_apply`), as a `SyncRun` with trigger
"file": precedence, matching, provenance, quarantine and idempotency are the engine's, not ours.
This module only turns a file into `SourceRecord`s: every cell is read as text (a Dutch "1.234,56"
or "012345678" stays as written, for the mapping's transform to read), each row becomes one record
whose id comes from the chosen id column (or a hash of its mapped values), and the chosen column
mapping becomes `MappingRule`s whose `source_path` is the column name.

The flow is upload → map → preview → apply (or cancel). The preview runs the same mapping as the
engine and writes nothing but the import's own status; apply refuses an import nobody previewed.
The uploaded bytes live on the `FileImport` row and are cleared when it is applied or cancelled.
"""

import csv
import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..connectors.base import Page, RejectedRecord
from ..connectors.base import SourceRecord as FetchedRecord
from ..mapping import MappingError, MappingRule, map_record, read_path
from ..models import FieldMapping, FileImport, Source, SourceRecord, SyncRun
from ..targets import TARGETS, target_label
from .sync import _run_succeeded, content_hash, page_apply, source_lock_acquire, source_lock_release

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
# An .xlsx is a zip: refuse one that unpacks to far more than any real client list (a zip bomb).
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
# The import runs inside the request, and gunicorn ends a request after 30 s: the engine applies
# about 5,000 new rows in 15 s on PostgreSQL (2 cores). Larger files need the apply in a task.
MAX_ROWS = 5_000
MAX_COLUMNS = 200
MAX_COLUMN_NAME = 250  # FieldMapping.source_path holds 300, with room for the JSONPath quoting
MAX_RECORD_ID = 100  # SourceRecord.record_id
PAGE_SIZE = 500
PREVIEW_ROWS = 50
STALE_AFTER = timedelta(days=1)
CSV_DELIMITERS = (";", ",", "\t")
CSV_ENCODINGS = ("utf-8-sig", "cp1252")  # utf-8-sig also reads UTF-8 without a byte order mark
CSV_EXTENSIONS = (".csv", ".txt")
EXCEL_EXTENSIONS = (".xlsx",)
OPEN_STATUSES = (FileImport.Status.UPLOADED, FileImport.Status.MAPPED, FileImport.Status.PREVIEWED)


class FileImportError(ValueError):
    """The file or the request cannot be used; `message` says why, in words for the uploader."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Reading files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedFile:
    """A file as text: its column names and one {column: text} dict per data row."""

    columns: list[str]
    rows: list[dict[str, str]]


def column_path(column: str) -> str:
    """The `source_path` that reads this column from a row: its name, or a quoted JSONPath.

    A plain path is split on dots ("adres.postcode"), so a header such as "Geb. datum" or "Huisnr."
    is written as `$["Geb. datum"]`, which reads the key as it is.
    """
    if "." not in column and not column.startswith("$"):
        return column
    escaped = column.replace("\\", "\\\\").replace('"', '\\"')
    return f'$["{escaped}"]'


def path_column(path: str) -> str:
    """The column a `source_path` written by `column_path` reads."""
    if path.startswith('$["') and path.endswith('"]'):
        return path[3:-2].replace('\\"', '"').replace("\\\\", "\\")
    return path


def file_read(*, content: bytes, filename: str) -> ParsedFile:
    """Read a CSV (delimiter ; , or tab; UTF-8 or Windows-1252) or an .xlsx (its first sheet).

    The first row holds the column names. Every cell is text; blank rows and nameless empty
    columns are dropped. Raises FileImportError with a reason the uploader can act on.
    """
    if not content:
        raise FileImportError(_("The file is empty."))
    if len(content) > MAX_FILE_BYTES:
        raise FileImportError(
            _("The file is %(size)s MB; the limit is %(limit)s MB.")
            % {"size": round(len(content) / 1024 / 1024, 1), "limit": MAX_FILE_BYTES // 1024 // 1024}
        )
    name = filename.lower()
    if name.endswith(EXCEL_EXTENSIONS):
        table = _excel_table(content)
    elif name.endswith(CSV_EXTENSIONS):
        table = _csv_table(content)
    elif name.endswith(".xls"):
        raise FileImportError(_("This is the old Excel format (.xls). Save it as .xlsx or as CSV and upload again."))
    else:
        raise FileImportError(_("Upload a CSV file (.csv) or an Excel workbook (.xlsx)."))
    return _parsed(table)


def _csv_table(content: bytes) -> list[list[str]]:
    if b"\x00" in content[:4096]:
        raise FileImportError(
            _("This is not a text file in UTF-8 or Windows-1252 (it may be UTF-16): save it as CSV UTF-8.")
        )
    for encoding in CSV_ENCODINGS:
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FileImportError(_("The file is neither UTF-8 nor Windows-1252 text: save it as CSV UTF-8."))
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=_csv_delimiter(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as error:
        raise FileImportError(_("The file is empty.")) from error
    except pd.errors.ParserError as error:
        raise FileImportError(_("The file could not be read as CSV: %(error)s") % {"error": error}) from error
    return frame.values.tolist()


def _csv_delimiter(text: str) -> str:
    """The delimiter that splits the header row into the most columns (quotes respected).

    Dutch Excel writes ';' because ',' is the decimal separator; a tie goes to ','.
    """
    header = text.split("\n", 1)[0]
    counts = {delimiter: len(next(csv.reader([header], delimiter=delimiter), [])) for delimiter in CSV_DELIMITERS}
    best = max(counts.values())
    return "," if counts[","] == best else max(counts, key=counts.__getitem__)


def _excel_table(content: bytes) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(item.file_size for item in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise FileImportError(_("The workbook is too large once unpacked."))
    except zipfile.BadZipFile as error:
        raise FileImportError(_("This is not a valid Excel workbook (.xlsx).")) from error
    try:
        # dtype=object, not str: Excel cells are typed already, and `_cell_text` writes a date cell
        # as "1980-03-12" where str() would give "1980-03-12 00:00:00".
        frame = pd.read_excel(
            io.BytesIO(content), sheet_name=0, header=None, dtype=object, na_filter=False, engine="openpyxl"
        )
    except Exception as error:  # an untrusted file can fail openpyxl in many ways; all mean "unreadable"
        raise FileImportError(_("The workbook could not be read: %(error)s") % {"error": error}) from error
    return [[_cell_text(cell) for cell in row] for row in frame.values.tolist()]


def _cell_text(cell: Any) -> str:
    if cell is None or (isinstance(cell, float) and cell != cell):  # NaN
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _parsed(table: list[list[str]]) -> ParsedFile:
    if not table:
        raise FileImportError(_("The file is empty."))
    header, *body = table
    body = [row for row in body if any(str(cell).strip() for cell in row)]
    keep: list[int] = []
    columns: list[str] = []
    for index, raw_name in enumerate(header):
        name = str(raw_name).strip()
        if not name:
            if any(str(row[index]).strip() for row in body):
                raise FileImportError(
                    _("Column %(number)s has values but no name in the first row: give it a name.")
                    % {"number": index + 1}
                )
            continue  # a trailing separator or an empty spreadsheet column
        if len(name) > MAX_COLUMN_NAME:
            raise FileImportError(_("Column %(number)s has a name longer than 250 characters.") % {"number": index + 1})
        if name in columns:
            raise FileImportError(_("Two columns are called %(name)r: rename one.") % {"name": name})
        if read_path({name: "x"}, column_path(name)) != "x":
            raise FileImportError(_("The column name %(name)r cannot be used: rename it.") % {"name": name})
        keep.append(index)
        columns.append(name)
    if not columns:
        raise FileImportError(_("The first row should hold the column names, but it is empty."))
    if len(columns) > MAX_COLUMNS:
        raise FileImportError(_("The file has more than %(limit)s columns.") % {"limit": MAX_COLUMNS})
    if not body:
        raise FileImportError(_("The file has column names but no rows."))
    if len(body) > MAX_ROWS:
        raise FileImportError(
            _("The file has %(rows)s rows; the limit is %(limit)s. Split it into smaller files.")
            % {"rows": len(body), "limit": MAX_ROWS}
        )
    rows = [{columns[position]: str(row[index]) for position, index in enumerate(keep)} for row in body]
    return ParsedFile(columns=columns, rows=rows)


# --- The mapping ----------------------------------------------------------------------------------


def mapping_validate(*, mapping: list[dict], columns: list[str], record_id_column: str) -> list[dict]:
    """Check a chosen column mapping; returns it normalised, or raises ValidationError."""
    transforms = set(FieldMapping.Transform.values)
    errors, seen, cleaned = [], {}, []
    for rule in mapping:
        column, target = rule.get("column", ""), rule.get("target", "")
        transform, argument = rule.get("transform") or "none", (rule.get("argument") or "").strip()
        if column not in columns:
            errors.append(_("There is no column %(column)r in this file.") % {"column": column})
        elif target not in TARGETS:
            errors.append(_("%(target)r is not a Steward field.") % {"target": target})
        elif transform not in transforms:
            errors.append(_("%(transform)r is not a way to read a value.") % {"transform": transform})
        elif target in seen:
            errors.append(
                _("Columns %(first)r and %(second)r both fill %(target)s: choose one.")
                % {"first": seen[target], "second": column, "target": target}
            )
        else:
            seen[target] = column
            cleaned.append(
                {
                    "column": column,
                    "target": target,
                    "transform": transform,
                    "argument": argument,
                    "required": bool(rule.get("required")),
                }
            )
    if record_id_column and record_id_column not in columns:
        errors.append(_("There is no column %(column)r in this file.") % {"column": record_id_column})
    if not cleaned and not errors:
        errors.append(_("Choose a Steward field for at least one column."))
    if errors:
        raise ValidationError(errors)
    return cleaned


def mapping_rules(mapping: list[dict]) -> list[MappingRule]:
    return [
        MappingRule(column_path(rule["column"]), rule["target"], rule["transform"], rule["argument"], rule["required"])
        for rule in mapping
    ]


def file_import_initial_mapping(*, file_import: FileImport) -> tuple[list[dict], str]:
    """The mapping to show on the mapping page: the import's own, else the source's saved one.

    The source's FieldMappings are matched by column name, so the next file of the same layout
    arrives pre-filled; the id column is remembered in the source's config.
    """
    if file_import.mapping:
        return file_import.mapping, file_import.record_id_column
    columns = set(file_import.columns)
    mapping = [
        {
            "column": path_column(saved.source_path),
            "target": saved.target,
            "transform": saved.transform,
            "argument": saved.transform_argument,
            "required": saved.required,
        }
        for saved in file_import.source.mappings.order_by("pk")
        if path_column(saved.source_path) in columns
    ]
    record_id_column = file_import.source.config.get("record_id_column", "")
    return mapping, record_id_column if record_id_column in columns else ""


def file_import_samples(*, file_import: FileImport, count: int = 3) -> dict[str, list[str]]:
    """A few non-empty values of each column, to help whoever maps the columns."""
    parsed = _import_file(file_import)
    samples: dict[str, list[str]] = {column: [] for column in parsed.columns}
    for row in parsed.rows:
        for column, value in row.items():
            if value.strip() and len(samples[column]) < count and value not in samples[column]:
                samples[column].append(value)
        if all(len(values) >= count for values in samples.values()):
            break
    return samples


# --- Records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    """One data row as the engine will receive it: a record, or a rejection with its reason."""

    row_number: int  # as the spreadsheet numbers it: the header is row 1
    record: FetchedRecord | None = None
    rejected: RejectedRecord | None = None


def file_rows(*, parsed: ParsedFile, mapping: list[dict], record_id_column: str, changed_at: datetime) -> list[FileRow]:
    """Turn rows into the engine's records; preview and apply both read the file through here.

    A record keeps only the mapped columns (and the id column): an ignored column never reaches
    the database, not even the quarantine. Rows without an id, with an id an earlier row already
    used, or with nothing in any mapped column are rejected with the reason.
    """
    kept_columns = list(dict.fromkeys([rule["column"] for rule in mapping] + [record_id_column]))
    kept_columns = [column for column in kept_columns if column]
    read_columns = {rule["column"] for rule in mapping if rule["transform"] != "constant"}
    first_row_of: dict[str, int] = {}
    result = []
    for index, row in enumerate(parsed.rows):  # per row: each becomes its own record
        row_number = index + 2
        data = {column: row[column] for column in kept_columns}
        if record_id_column:
            record_id = row[record_id_column].strip()
        else:
            digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            record_id = f"row-{digest[:40]}"
        if not any(row[column].strip() for column in read_columns):
            reason = _("row %(row)s: none of the mapped columns has a value") % {"row": row_number}
        else:
            reason = record_id_refusal(
                row=row_number, record_id=record_id, record_id_column=record_id_column, first_row_of=first_row_of
            )
        if reason:
            result.append(FileRow(row_number, rejected=RejectedRecord(record_id[:MAX_RECORD_ID] or None, data, reason)))
            continue
        first_row_of[record_id] = row_number
        result.append(FileRow(row_number, record=FetchedRecord(record_id, changed_at, False, data)))
    return result


def record_id_refusal(*, row: int, record_id: str, record_id_column: str, first_row_of: dict[str, int]) -> str:
    """Why a file's row cannot be a record by its id (empty, too long, met before); "" when it can."""
    if not record_id:
        return _("row %(row)s: the id column %(column)r is empty") % {"row": row, "column": record_id_column}
    if len(record_id) > MAX_RECORD_ID:
        return _("row %(row)s: the id is longer than %(limit)s characters") % {"row": row, "limit": MAX_RECORD_ID}
    if record_id in first_row_of:
        return _("row %(row)s: the same record as row %(first)s (id %(id)r)") % {
            "row": row,
            "first": first_row_of[record_id],
            "id": record_id,
        }
    return ""


def _require_open(file_import: FileImport) -> None:
    if not file_import.is_open or file_import.content is None:
        raise FileImportError(_("This import is already finished; upload the file again to start over."))


def _import_file(file_import: FileImport) -> ParsedFile:
    _require_open(file_import)
    return file_read(content=bytes(file_import.content), filename=file_import.original_filename)


# --- Upload, map, preview, apply, cancel ----------------------------------------------------------


@transaction.atomic
def file_import_upload(*, source: Source, filename: str, content: bytes, user) -> FileImport:
    """Store an uploaded file for a file source after reading it once (so a bad file is refused now).

    Also cancels imports nobody finished within a day, clearing their files.
    """
    if source.kind != Source.Kind.FILE:
        raise FileImportError(_("Only a file source takes uploads; %(source)s is synced.") % {"source": source})
    if not source.enabled:
        raise FileImportError(_("%(source)s is switched off.") % {"source": source})
    parsed = file_read(content=content, filename=filename)
    file_imports_purge_stale()
    return FileImport.objects.create(
        source=source,
        uploaded_by=user,
        original_filename=filename[:255],
        content=content,
        columns=parsed.columns,
        row_count=len(parsed.rows),
    )


@transaction.atomic
def file_import_map(*, file_import: FileImport, mapping: list[dict], record_id_column: str) -> FileImport:
    """Save the chosen column mapping and id column; the import must be previewed (again) after."""
    _require_open(file_import)
    file_import.mapping = mapping_validate(
        mapping=mapping, columns=file_import.columns, record_id_column=record_id_column
    )
    file_import.record_id_column = record_id_column
    file_import.status = FileImport.Status.MAPPED
    file_import.save(update_fields=["mapping", "record_id_column", "status"])
    return file_import


@dataclass
class RowPreview:
    row_number: int
    record_id: str
    values: dict[str, Any] = field(default_factory=dict)  # target -> the value as it will be stored
    reason: str = ""  # why the row would go to quarantine
    change: str = ""  # "new", "changed" or "unchanged" compared with what this source gave before

    @property
    def valid(self) -> bool:
        return not self.reason


@dataclass
class ImportPreview:
    total: int = 0
    valid: int = 0
    invalid: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    targets: list[str] = field(default_factory=list)
    sample: list[RowPreview] = field(default_factory=list)  # the first rows, valid or not
    invalid_rows: list[RowPreview] = field(default_factory=list)  # every row that would be quarantined

    def target_labels(self) -> list[str]:
        return [target_label(target) for target in self.targets]

    def sample_table(self) -> list[tuple[RowPreview, list[Any]]]:
        """The sample rows with their values in the order of `targets`, for a table."""
        return [(row, [row.values.get(target, "") for target in self.targets]) for row in self.sample]


def file_import_preview(*, file_import: FileImport, sample_size: int = PREVIEW_ROWS) -> ImportPreview:
    """What applying would do, row by row, with the engine's own mapping: writes no client data.

    Its only write is the import's status (previewed), so that apply can insist a person saw this.
    """
    _require_open(file_import)
    if file_import.status == FileImport.Status.UPLOADED:
        raise FileImportError(_("Map the columns first."))
    parsed = _import_file(file_import)
    rules = mapping_rules(file_import.mapping)
    rows = file_rows(
        parsed=parsed,
        mapping=file_import.mapping,
        record_id_column=file_import.record_id_column,
        changed_at=file_import.created_at,
    )
    preview = ImportPreview(total=len(rows), targets=list(dict.fromkeys(rule.target for rule in rules)))
    hashes: dict[str, str] = {}
    previews = []
    for row in rows:  # per row: mapping is Python work on each row, exactly as the engine does it
        if row.rejected:
            item = RowPreview(row.row_number, row.rejected.record_id or "", reason=row.rejected.reason)
        else:
            try:
                values = map_record(row.record.data, rules)
            except MappingError as error:
                item = RowPreview(row.row_number, row.record.record_id, reason=error.reason)
            else:
                item = RowPreview(row.row_number, row.record.record_id, values=values)
                hashes[item.record_id] = content_hash(values, False)
        previews.append(item)
    known = dict(
        SourceRecord.objects.filter(source_key=file_import.source.key, record_id__in=hashes).values_list(
            "record_id", "content_hash"
        )
    )
    for item in previews:
        if item.valid:
            if item.record_id not in known:
                item.change = "new"
            elif known[item.record_id] == hashes[item.record_id]:
                item.change = "unchanged"
            else:
                item.change = "changed"
            setattr(preview, item.change, getattr(preview, item.change) + 1)
        else:
            preview.invalid_rows.append(item)
    preview.invalid = len(preview.invalid_rows)
    preview.valid = preview.total - preview.invalid
    preview.sample = previews[:sample_size]
    FileImport.objects.filter(pk=file_import.pk, status=FileImport.Status.MAPPED).update(
        status=FileImport.Status.PREVIEWED
    )
    file_import.status = FileImport.Status.PREVIEWED
    return preview


def file_import_apply(*, file_import: FileImport, user=None) -> SyncRun:
    """Import a previewed file through the sync engine, as a SyncRun with trigger "file".

    Pages of PAGE_SIZE rows go through `page_apply`, each committed on its own like an API sync's
    pages; applying the same file again changes nothing (the engine skips unchanged records). The
    mapping is saved as the source's FieldMappings (the next file of this layout arrives mapped,
    and a quarantined row is retried with it). On success the file's bytes are cleared; if the
    run fails, the import stays previewed and can be applied again.
    """
    source = file_import.source
    token = source_lock_acquire(source_id=source.pk)
    if token is None:
        raise FileImportError(
            _("Another import or sync of %(source)s is running; try again shortly.") % {"source": source}
        )
    try:
        file_import = FileImport.objects.select_related("source").get(pk=file_import.pk)
        if file_import.status != FileImport.Status.PREVIEWED:
            _require_open(file_import)
            raise FileImportError(_("Check the preview before importing."))
        source = file_import.source
        parsed = _import_file(file_import)
        rows = file_rows(
            parsed=parsed,
            mapping=file_import.mapping,
            record_id_column=file_import.record_id_column,
            changed_at=file_import.created_at,
        )
        rules = mapping_rules(file_import.mapping)
        with transaction.atomic():
            run = SyncRun.objects.create(
                source=source, trigger=SyncRun.Trigger.FILE, triggered_by=user, expected_records=len(rows)
            )
            FileImport.objects.filter(pk=file_import.pk).update(sync_run=run)
            _source_mapping_save(
                source=source, mapping=file_import.mapping, record_id_column=file_import.record_id_column
            )
        try:
            for start in range(0, len(rows), PAGE_SIZE):
                chunk = rows[start : start + PAGE_SIZE]
                page = Page(
                    records=[row.record for row in chunk if row.record],
                    next_cursor=None,
                    rejected=[row.rejected for row in chunk if row.rejected],
                )
                page_apply(source=source, run=run, page=page, rules=rules, now=timezone.now())
        except Exception as error:
            SyncRun.objects.filter(pk=run.pk).update(
                status=SyncRun.Status.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"
            )
            logger.exception("file import %s into %s failed", file_import.pk, source.key)
            raise
        with transaction.atomic():
            _run_succeeded(source, run)
            FileImport.objects.filter(pk=file_import.pk).update(status=FileImport.Status.APPLIED, content=None)
    finally:
        source_lock_release(source_id=source.pk, token=token)
    run.refresh_from_db()
    return run


def _source_mapping_save(*, source: Source, mapping: list[dict], record_id_column: str) -> None:
    """The source's mapping becomes exactly the one this file was imported with."""
    source.mappings.all().delete()
    FieldMapping.objects.bulk_create(
        FieldMapping(
            source=source,
            source_path=column_path(rule["column"]),
            target=rule["target"],
            transform=rule["transform"],
            transform_argument=rule["argument"],
            required=rule["required"],
        )
        for rule in mapping
    )
    source.config = {**source.config, "record_id_column": record_id_column}
    Source.objects.filter(pk=source.pk).update(config=source.config)


@transaction.atomic
def file_import_cancel(*, file_import: FileImport) -> None:
    """Drop an import before it is applied; its file is cleared at once."""
    cancelled = FileImport.objects.filter(pk=file_import.pk, status__in=OPEN_STATUSES).update(
        status=FileImport.Status.CANCELLED, content=None
    )
    if not cancelled:
        raise FileImportError(_("This import is already finished; upload the file again to start over."))
    file_import.status, file_import.content = FileImport.Status.CANCELLED, None


def file_imports_purge_stale(*, now: datetime | None = None) -> int:
    """Cancel imports left unfinished for more than a day, clearing their files (personal data)."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    return FileImport.objects.filter(status__in=OPEN_STATUSES, created_at__lt=cutoff).update(
        status=FileImport.Status.CANCELLED, content=None
    )
