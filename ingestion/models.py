"""Sources, their field mappings, sync runs, and what each source said about each client.

A `SourceRecord` keeps the mapped values of one record of one source. The unified client view
(clients app) holds the winning value of every field; the per-source values stay here, so the
winner can be recomputed when precedence changes and the losers are shown as data conflicts.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_fields.fields import EncryptedTextField

from clients.models import Client
from trust.privacy_sealed import (
    MaskedTextField,
    SealedBinaryField,
    SealedJSONField,
    SealedTextField,
    personal_values_mask,
)


class Source(models.Model):
    """A system Steward pulls client data from: a CRM, an advisory tool, or file uploads."""

    class Kind(models.TextChoices):
        HUBSPOT = "hubspot", _("HubSpot CRM")
        REST = "rest", _("REST/JSON API")
        FILE = "file", _("File upload (CSV/Excel)")

    class Health(models.TextChoices):
        NEW = "new", _("Not synced yet")
        HEALTHY = "healthy", _("Healthy")
        DEGRADED = "degraded", _("Retrying")
        FAILING = "failing", _("Failing")
        PARKED = "parked", _("Waiting for quota")

    key = models.SlugField(
        _("key"),
        max_length=50,
        unique=True,
        help_text=_("Short name stored with every value from this source."),
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    enabled = models.BooleanField(_("enabled"), default=True)
    config = models.JSONField(
        _("connection settings"),
        default=dict,
        blank=True,
        help_text=_("Base URL, pagination and paths; never secrets (those go in credentials)."),
    )
    # Tokens, passwords, client secrets, webhook signing secrets: encrypted at rest, never shown back.
    credentials = EncryptedTextField(_("credentials"), null=True, blank=True)
    default_team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team for new clients"),
        on_delete=models.PROTECT,
        help_text=_("Clients first seen in this source join this team unless a mapping says otherwise."),
    )
    sync_interval_minutes = models.PositiveIntegerField(
        _("sync every (minutes)"), default=15, help_text=_("0 turns scheduled syncs off.")
    )

    # Incremental sync state. `watermark` is the latest change time fully synced; `resume_cursor` is
    # the page cursor of a run that stopped part-way, committed together with that page's data.
    watermark = models.DateTimeField(_("synced up to"), null=True, blank=True)
    resume_cursor = models.TextField(blank=True)
    resume_since = models.DateTimeField(null=True, blank=True)
    resume_high_water = models.DateTimeField(null=True, blank=True)

    # At most one run at a time: claimed with a conditional UPDATE, freed at the end of a run.
    lock_token = models.CharField(max_length=36, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    health = models.CharField(_("health"), max_length=10, choices=Health, default=Health.NEW)
    last_error = models.TextField(_("last error"), blank=True)
    last_success_at = models.DateTimeField(_("last successful sync"), null=True, blank=True)
    parked_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["name"]
        permissions = [("run_sync", "Can start a sync and fix quarantined records")]

    def __str__(self):
        return self.name


class FieldMapping(models.Model):
    """Where one unified-view field is found in this source's records, and how to read it."""

    class Transform(models.TextChoices):
        NONE = "none", _("As is (text)")
        DECIMAL = "decimal", _("Number (1234.56)")
        DECIMAL_COMMA = "decimal_comma", _("Dutch number (1.234,56)")
        CENTS = "cents", _("Amount in cents")
        INTEGER = "integer", _("Whole number")
        DATE = "date", _("Date (give its format)")
        DATETIME = "datetime", _("Date and time (ISO 8601)")
        BOOLEAN = "boolean", _("Yes/no")
        ENUM = "enum", _("Translate codes (give the map)")
        PHONE = "phone", _("Phone number")
        POSTCODE = "postcode", _("Dutch postcode")
        LOWERCASE = "lowercase", _("Text, lower case")
        SURNAME_PREFIX = "surname_prefix", _("Prefix of a Dutch surname ('van den' of 'van den Berg')")
        SURNAME_BASE = "surname_base", _("Surname without its prefix ('Berg' of 'van den Berg')")
        CONSTANT = "constant", _("Fixed value (give it)")

    source = models.ForeignKey(Source, related_name="mappings", on_delete=models.CASCADE)
    source_path = models.CharField(
        _("field in the source"),
        max_length=300,
        help_text=_("Dotted path such as 'properties.email', or JSONPath starting with '$'."),
    )
    target = models.CharField(_("Steward field"), max_length=60)
    transform = models.CharField(_("read as"), max_length=15, choices=Transform, default=Transform.NONE)
    transform_argument = models.CharField(
        _("format or map"),
        max_length=500,
        blank=True,
        help_text=_("Date format such as '%d-%m-%Y'; for codes a map such as 'M=male, V=female'."),
    )
    required = models.BooleanField(_("required"), default=False)

    class Meta:
        verbose_name = _("field mapping")
        verbose_name_plural = _("field mappings")
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="mapping_one_per_target")]
        ordering = ["target"]

    def __str__(self):
        return f"{self.source_path} → {self.target}"


class FieldPrecedence(models.Model):
    """Which source wins a field when sources disagree."""

    class Strategy(models.TextChoices):
        ORDERED = "ordered", _("First source in the list wins")
        MOST_RECENT = "most_recent", _("Most recently changed wins")

    target = models.CharField(
        _("Steward field"),
        max_length=60,
        unique=True,
        help_text=_("A field such as 'client.email', a whole entity such as 'client.*', or '*' for every field."),
    )
    strategy = models.CharField(_("strategy"), max_length=12, choices=Strategy, default=Strategy.ORDERED)
    source_order = models.CharField(
        _("sources, first wins"),
        max_length=500,
        blank=True,
        help_text=_(
            "Source keys separated by commas, e.g. 'manual, client, advisory-tool, crm'. Sources not listed "
            "come after, most recent first. 'manual' is an advisor's correction, 'client' the client's own answer."
        ),
    )

    class Meta:
        verbose_name = _("source of truth")
        verbose_name_plural = _("sources of truth")
        ordering = ["target"]

    def __str__(self):
        return self.target

    @property
    def ordered_sources(self) -> list[str]:
        return [key.strip() for key in self.source_order.split(",") if key.strip()]


class SourceRecord(models.Model):
    """One record of one source, mapped to Steward fields, linked to the client it describes."""

    source_key = models.CharField(max_length=50)
    record_id = models.CharField(max_length=100)
    client = models.ForeignKey(Client, related_name="source_records", on_delete=models.CASCADE, null=True)
    values = models.JSONField(default=dict)  # {"client.email": "...", "income.gross_annual_amount": "52000.00"}
    content_hash = models.CharField(max_length=64)
    changed_at = models.DateTimeField()
    fetched_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        constraints = [models.UniqueConstraint(fields=["source_key", "record_id"], name="source_record_unique")]
        # Recomputing a client's winners reads all its records: the foreign key's own index serves
        # that (a second index on `client`, as before, only cost every sync's inserts).

    def __str__(self):
        return f"{self.source_key}:{self.record_id}"


class DataConflict(models.Model):
    """A source holds a different value than the one that won: shown on the client page, counted by rules."""

    # No index of its own: the unique constraint's index starts with the client.
    client = models.ForeignKey(Client, related_name="data_conflicts", on_delete=models.CASCADE, db_index=False)
    target = models.CharField(max_length=60)
    winning_source = models.CharField(max_length=50)
    winning_value = models.TextField(blank=True)
    other_source = models.CharField(max_length=50)
    other_value = models.TextField(blank=True)
    other_changed_at = models.DateTimeField(null=True)
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("data conflict")
        verbose_name_plural = _("data conflicts")
        constraints = [
            models.UniqueConstraint(fields=["client", "target", "other_source"], name="conflict_unique"),
        ]

    def __str__(self):
        return f"{self.client_id} {self.target}: {self.winning_source} vs {self.other_source}"

    def _formatted(self, text: str) -> str:
        from datetime import date

        from django.template.defaultfilters import date as date_filter

        from clients.templatetags.steward import euro

        from .targets import TARGETS

        if self.target not in TARGETS or not text:
            return text
        field = TARGETS[self.target][0].model._meta.get_field(TARGETS[self.target][1])
        if isinstance(field, models.DecimalField) and field.max_digits == 14:
            return euro(text)
        if isinstance(field, models.DateField):
            return date_filter(date.fromisoformat(text[:10]), "SHORT_DATE_FORMAT")
        return text

    @property
    def winning_display(self) -> str:
        return self._formatted(self.winning_value)

    @property
    def other_display(self) -> str:
        return self._formatted(self.other_value)

    @property
    def target_label(self) -> str:
        from .targets import target_label

        return target_label(self.target)


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (another run was busy)")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Sync now")
        WEBHOOK = "webhook", _("Webhook")
        RECONCILE = "reconcile", _("Deletion check")
        FILE = "file", _("File upload")

    source = models.ForeignKey(Source, related_name="runs", on_delete=models.CASCADE)
    trigger = models.CharField(max_length=10, choices=Trigger, default=Trigger.MANUAL)
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cursor_before = models.TextField(blank=True)
    cursor_after = models.TextField(blank=True)
    pages = models.PositiveIntegerField(default=0)
    expected_records = models.PositiveIntegerField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    in_review = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["source", "-started_at"], name="sync_run_source_recent_idx")]

    def __str__(self):
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    @property
    def progress_percent(self) -> int | None:
        if not self.expected_records:
            return None
        return min(100, round(100 * self.fetched / self.expected_records))


class SyncRunPart(models.Model):
    """One range of a partitioned full sync (services/sync_partitions.py), read by a worker of its own.

    Each range keeps its own resume cursor, committed with every batch it writes, as a plain sync
    keeps the source's: a worker killed mid-range resumes exactly after its last batch. The run
    finishes (watermark, lock released) when its last range does.
    """

    run = models.ForeignKey(SyncRun, related_name="parts", on_delete=models.CASCADE)
    index = models.PositiveSmallIntegerField()
    start_cursor = models.TextField(blank=True)  # "" reads from the very beginning
    cursor = models.TextField(blank=True)  # where to resume: the next cursor of the last committed batch
    high_water = models.DateTimeField(null=True, blank=True)  # the latest change this range has seen
    finished_at = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=36)  # the source lock the run holds (Source.lock_token)

    class Meta:
        verbose_name = _("sync run part")
        verbose_name_plural = _("sync run parts")
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="sync_run_part_unique")]

    def __str__(self):
        return f"{self.run} part {self.index}"


class QuarantinedRecord(models.Model):
    """A record that could not be read or mapped; kept whole with the reason, to fix and retry.

    The payload is as the source sent it, so it may hold a BSN or an IBAN Steward never maps: it is
    encrypted at rest (trust.privacy_sealed), shown masked (`raw_shown`), and a masked value sent
    back with a correction is restored from the original (services.records.quarantined_record_retry).
    The reason may quote a value: it is stored with BSNs and IBANs masked.

    A record has at most one open entry: read again and refused again (every nightly sync, a file
    loaded twice), it updates that entry (services.quarantine.quarantine_store); read again and
    landed (fixed at the source), it resolves it.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RETRIED = "retried", _("Retried and landed")
        RESOLVED = "resolved", _("Landed in a later sync")
        DISMISSED = "dismissed", _("Dismissed")
        SUPERSEDED = "superseded", _("Superseded by a later copy")

    source = models.ForeignKey(Source, related_name="quarantine", on_delete=models.CASCADE)
    run = models.ForeignKey(SyncRun, related_name="quarantined_records", on_delete=models.SET_NULL, null=True)
    record_id = models.CharField(max_length=100, blank=True)
    raw = SealedJSONField(null=True)
    raw_text = SealedTextField(blank=True, help_text=_("The record as received, when it was not even JSON."))
    reason = MaskedTextField()
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField(_("first refused"), default=timezone.now)
    seen_at = models.DateTimeField(_("last refused"), default=timezone.now)
    times_seen = models.PositiveIntegerField(_("times refused"), default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("quarantined record")
        verbose_name_plural = _("quarantined records")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["source", "status"], name="quarantine_source_status_idx")]
        constraints = [
            # Also the index by which a landed record's open entry is found.
            models.UniqueConstraint(
                fields=["source", "record_id"],
                condition=models.Q(status="open") & ~models.Q(record_id=""),
                name="quarantine_one_open_per_record",
            )
        ]

    def __str__(self):
        return f"{self.source} {self.record_id or '?'}: {self.reason[:60]}"

    @property
    def raw_json(self) -> str:
        import json

        return json.dumps(self.raw, indent=2, ensure_ascii=False)

    @property
    def raw_shown(self) -> str:
        """The payload as pages show it: JSON (or the text received) with BSNs and IBANs masked."""
        import json

        if self.raw is None:
            return personal_values_mask(self.raw_text)
        return json.dumps(personal_values_mask(self.raw), indent=2, ensure_ascii=False)


class MatchCandidate(models.Model):
    """A source record that may be a client Steward already knows: a person decides."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To review")
        LINKED = "linked", _("Linked")
        KEPT_APART = "kept_apart", _("Kept apart")

    source_record = models.ForeignKey(SourceRecord, related_name="match_candidates", on_delete=models.CASCADE)
    client = models.ForeignKey(Client, related_name="match_candidates", on_delete=models.CASCADE)
    score = models.DecimalField(max_digits=5, decimal_places=1)
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("possible match")
        verbose_name_plural = _("possible matches")
        ordering = ["-score"]
        constraints = [
            models.UniqueConstraint(fields=["source_record", "client"], name="match_candidate_unique"),
        ]
        indexes = [models.Index(fields=["status"], name="match_candidate_status_idx", condition=Q(status="pending"))]

    def __str__(self):
        return f"{self.source_record} ~ {self.client_id} ({self.score})"


class WebhookEvent(models.Model):
    """A change notification received, by the source's event id: a replayed event is refused."""

    source = models.ForeignKey(Source, related_name="webhook_events", on_delete=models.CASCADE)
    event_id = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now)
    record_ids = models.JSONField(default=list)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="webhook_event_unique")]

    def __str__(self):
        return f"{self.source} {self.event_id}"


class FileImport(models.Model):
    """One uploaded CSV or Excel file on its way into a file source: mapped, previewed, applied once.

    The file is kept in the database (`content`), not under MEDIA_ROOT: it holds personal data, so
    it must never be reachable by URL, must not depend on a disk shared by web and worker, and is
    cleared in the same transaction that applies or cancels the import (a constraint holds that).
    It is needed until then (mapping, preview and apply each read it again), so it is encrypted at
    rest (trust.privacy_sealed) rather than dropped after reading. An import left unfinished for a
    day is cancelled and its file cleared at the next upload (`file_imports_purge_stale`), and the
    retention run clears any file still there after two days (trust.privacy_register).
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        MAPPED = "mapped", _("Columns mapped")
        PREVIEWED = "previewed", _("Previewed")
        APPLIED = "applied", _("Imported")
        CANCELLED = "cancelled", _("Cancelled")

    source = models.ForeignKey(
        Source,
        related_name="file_imports",
        on_delete=models.CASCADE,
        limit_choices_to={"kind": Source.Kind.FILE},
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    original_filename = models.CharField(_("file name"), max_length=255)
    content = SealedBinaryField(null=True, editable=False)  # encrypted at rest: the file holds personal data
    columns = models.JSONField(_("columns"), default=list)  # header names, in the file's order
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    # [{"column": "Postcode", "target": "client.postcode", "transform": "postcode", "argument": "",
    #   "required": false}, ...]: a list, because one column may feed two fields (a Dutch surname
    # "van den Berg" gives both the prefix and the last name).
    mapping = models.JSONField(_("column mapping"), default=list, blank=True)
    record_id_column = models.CharField(_("record id column"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.UPLOADED)
    sync_run = models.OneToOneField(
        SyncRun, related_name="file_import", on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        verbose_name = _("file import")
        verbose_name_plural = _("file imports")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=["applied", "cancelled"]) | Q(content__isnull=True),
                name="file_import_cleared_when_done",
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.original_filename} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.APPLIED, self.Status.CANCELLED)


class TaskAttempt(models.Model):
    """How often one unit of background work has been tried since it last succeeded.

    Counted here, in PostgreSQL, because Celery's own retry count travels in the message: a worker
    killed mid-task, or a Redis that lost its queue, forgets it, and a task that crashes its worker
    every time would then be redelivered forever. Counted when an attempt *starts* (committed
    before the work), so attempts that never got to report failing count too. Past the limit the
    work is dead-lettered: it stops, and admins see it on the Sources page and in Django admin.
    """

    task = models.CharField(_("task"), max_length=100)
    key = models.CharField(_("work"), max_length=200, help_text=_("What the task works on, e.g. 'source:3'."))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    dead_lettered_at = models.DateTimeField(_("stopped at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stopped task")
        verbose_name_plural = _("stopped tasks")
        ordering = ["-last_attempt_at"]
        constraints = [models.UniqueConstraint(fields=["task", "key"], name="task_attempt_unique")]
        indexes = [
            # The Sources page and admin list the dead letters.
            models.Index(
                fields=["dead_lettered_at"], name="task_attempt_dead_idx", condition=Q(dead_lettered_at__isnull=False)
            ),
        ]

    def __str__(self):
        return f"{self.task} {self.key}: {self.attempts}"
