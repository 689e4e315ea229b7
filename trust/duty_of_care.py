"""The duty-of-care file: per client, what the firm's after-care did and why, for the supervisor.

The AFM supervises after-care (nazorg) under the duty of care (Wft art. 4:24a): a firm must be able
to show, per client, which checks ran on the client's file, on which data, what they found, what the
firm did about it and how it ended. This module gathers that into one document
(`duty_of_care_file`), written as JSON (`duty_of_care_json`, schema below, validated by the tests)
and as PDF (`duty_of_care_pdf`, fpdf2):

- framework runs: which version of the framework ran on the client, and when (`EvaluationRun`,
  recorded per chunk by `evaluation_run_record`, which the alerts step calls);
- alerts: the rule and version that raised each one and its legal basis; the values it read, with
  their source and age (as recorded on the alert) and the client's data as it stood when the alert
  was raised (from the audit trail: value, source, when it changed there, when fetched);
- follow-up: each message linked to the alert, through which channel, with every status time;
  the client's response (self-service answers, bookings, calls);
- how each alert was closed: every status change (`AlertEvent`), who, when, why.

Reads only: building the file writes nothing.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert, AlertEvent
from clients.models import Client
from clients.provenance import Provenance

from .audit import history_model_of
from .models import EvaluationRun

SCHEMA = "steward.duty_of_care/1"

# The JSON file's shape: the test validates every file it builds against this (jsonschema).
_TIME = {"type": ["string", "null"]}
_TEXT = {"type": "string"}
JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "generated_at", "client", "framework_runs", "alerts", "messages"],
    "properties": {
        "schema": {"const": SCHEMA},
        "generated_at": _TEXT,
        "generated_by": _TEXT,
        "client": {
            "type": "object",
            "required": ["id", "name", "team", "advisor", "segment"],
            "properties": {"id": {"type": "integer"}, "name": _TEXT, "team": _TEXT, "advisor": _TEXT},
        },
        "framework_runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "version_name", "started_at", "finished_at", "alerts_opened"],
                "properties": {"version": {"type": "integer"}, "started_at": _TEXT, "finished_at": _TEXT},
            },
        },
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "alert_type",
                    "rule",
                    "framework_version",
                    "opened_at",
                    "status",
                    "closed_at",
                    "values",
                    "explanation",
                    "data_when_raised",
                    "events",
                    "follow_up",
                    "responses",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "rule": {
                        "type": ["object", "null"],
                        "required": ["key", "name", "legal_basis"],
                    },
                    "framework_version": {"type": ["object", "null"], "required": ["id", "name"]},
                    "opened_at": _TEXT,
                    "closed_at": _TIME,
                    "values": {"type": "object"},
                    "explanation": {"type": "array"},
                    "data_when_raised": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["value", "source", "changed_at", "fetched_at"],
                        },
                    },
                    "events": {
                        "type": "array",
                        "items": {"type": "object", "required": ["at", "by", "from_status", "to_status", "reason"]},
                    },
                    "follow_up": {
                        "type": "array",
                        "items": {"type": "object", "required": ["message", "channel", "status", "queued_at"]},
                    },
                    "responses": {"type": "array"},
                },
            },
        },
        "messages": {"type": "array"},
    },
}

# The client's own fields the file shows as "data when the alert was raised".
CLIENT_DATA_FIELDS = (
    "first_name",
    "last_name_prefix",
    "last_name",
    "birth_date",
    "marital_status",
    "email",
    "phone",
    "street",
    "house_number",
    "postcode",
    "city",
    "segment",
    "deleted_at",
)


# --- Recording framework runs ---------------------------------------------------------------------


def evaluation_run_record(
    *, version, client_ids, id_range, counts, started_at, clients: int | None = None
) -> EvaluationRun | None:
    """Record one chunk of a framework run (called by alerts.evaluation; settings.STEWARD_AFTER_FRAMEWORK_RUN).

    A chunk of the book is kept as its id range (its number of `clients` given, or its ids); a run
    over named clients (those a sync changed) keeps their ids too, so "did this version run on this
    client, and when" is answered exactly.
    """
    count = clients if id_range is not None and clients is not None else len(client_ids or ())
    if not count:
        return None
    if id_range is not None:
        first, last, named = id_range[0], id_range[1] - 1, []
    else:
        named = sorted(client_ids)
        first, last = named[0], named[-1]
    return EvaluationRun.objects.create(
        version=version,
        started_at=started_at,
        finished_at=timezone.now(),
        first_client_id=first,
        last_client_id=last,
        client_ids=named,
        clients=count,
        opened=counts.opened,
        kept=counts.kept,
        closed=counts.closed,
    )


def client_runs(*, client_id: int) -> list[EvaluationRun]:
    """The framework runs that evaluated this client, oldest first."""
    candidates = (
        EvaluationRun.objects.filter(first_client_id__lte=client_id, last_client_id__gte=client_id)
        .select_related("version")
        .order_by("started_at", "id")
    )
    return [run for run in candidates if run.covers(client_id)]


# --- The file -------------------------------------------------------------------------------------


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, Decimal)):
        return str(value)
    return str(value)


def _user(user) -> str:
    return user.get_username() if user is not None else ""


def _client_data_when(client: Client, moment: datetime) -> dict:
    """The client's fields as they stood at `moment`, each with its source and times (the audit trail)."""
    history = history_model_of(Client)
    record = (
        history.objects.filter(id=client.pk, history_date__lte=moment).order_by("-history_date", "-history_id").first()
        if history is not None
        else None
    )
    if record is None:  # older than the trail: today's values, which the file says by its dates
        record = client
    data = {}
    for name in CLIENT_DATA_FIELDS:
        origin = Provenance.from_json(entry) if (entry := (record.provenance or {}).get(name)) else None
        data[name] = {
            "value": _text(getattr(record, name)),
            "source": origin.source if origin else record.source,
            "record_id": origin.record_id if origin else record.source_record_id,
            "changed_at": _text(origin.changed_at if origin else record.source_changed_at),
            "fetched_at": _text(origin.fetched_at if origin else record.fetched_at),
        }
    data["_as_of"] = {
        "value": _text(getattr(record, "history_date", None) or record.updated_at),
        "source": "audit trail" if hasattr(record, "history_date") else "current record",
        "record_id": "",
        "changed_at": None,
        "fetched_at": None,
    }
    return data


def _message_json(message) -> dict:
    return {
        "message": message.pk,
        "channel": message.channel,
        "purpose": message.purpose,
        "playbook": message.playbook.name if message.playbook_id else "",
        "subject": message.subject,
        "status": message.status,
        "queued_at": _text(message.queued_at),
        "sent_at": _text(message.sent_at),
        "delivered_at": _text(message.delivered_at),
        "opened_at": _text(message.opened_at),
        "clicked_at": _text(message.clicked_at),
        "responded_at": _text(message.responded_at),
        "failed_at": _text(message.failed_at),
        "failure_reason": message.failure_reason,
    }


@dataclass
class _FollowUp:
    messages: list
    by_alert: dict
    responses: dict
    client_responses: list


def _follow_up(client: Client) -> _FollowUp:
    """Messages, bookings, self-service answers and calls of this client (follow-up step), in few queries."""
    from followup.models import Booking, CallTask, Message, MessageAlert, SelfServiceResponse

    messages = list(Message.objects.filter(client=client).select_related("playbook").order_by("queued_at", "id"))
    by_alert: dict[int, list] = {}
    for link in MessageAlert.objects.filter(message__client=client).select_related("message", "message__playbook"):
        by_alert.setdefault(link.alert_id, []).append(_message_json(link.message))
    responses: dict[int | None, list] = {}
    for response in SelfServiceResponse.objects.filter(client=client).order_by("completed_at", "id"):
        responses.setdefault(response.alert_id, []).append(
            {
                "kind": "self_service",
                "flow": response.flow_key,
                "at": _text(response.completed_at),
                "message": response.message_id,
                "answers": response.answers,
            }
        )
    for booking in Booking.objects.filter(client=client).select_related("advisor").order_by("starts_at", "id"):
        responses.setdefault(booking.alert_id, []).append(
            {
                "kind": "booking",
                "at": _text(booking.starts_at),
                "status": booking.status,
                "advisor": _user(booking.advisor),
                "message": booking.message_id,
            }
        )
    calls = (
        CallTask.objects.filter(message__client=client).select_related("done_by").prefetch_related("message__alerts")
    )
    for call in calls.order_by("created_at", "id"):
        entry = {
            "kind": "call",
            "at": _text(call.done_at or call.created_at),
            "status": call.outcome,
            "note": call.note,
            "by": _user(call.done_by),
            "message": call.message_id,
        }
        alert_ids = [alert.pk for alert in call.message.alerts.all()] or [None]
        for alert_id in alert_ids:
            responses.setdefault(alert_id, []).append(entry)
    return _FollowUp(
        messages=[_message_json(message) for message in messages],
        by_alert=by_alert,
        responses=responses,
        client_responses=responses.get(None, []),
    )


def duty_of_care_file(*, client: Client, user=None, now: datetime | None = None) -> dict:
    """Everything the after-care of this client did, as plain data (the JSON file's content)."""
    now = now or timezone.now()
    with transaction.atomic():  # one consistent reading of the file, also on PostgreSQL
        runs = client_runs(client_id=client.pk)
        alerts = list(
            Alert.objects.filter(client=client)
            .select_related("alert_type", "rule", "rule_version", "assigned_to")
            .order_by("opened_at", "id")
        )
        events: dict[int, list] = {}
        for event in AlertEvent.objects.filter(alert__client=client).select_related("by").order_by("at", "id"):
            events.setdefault(event.alert_id, []).append(
                {
                    "at": _text(event.at),
                    "by": _user(event.by) or _("the framework"),
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "reason": event.reason,
                }
            )
        follow_up = _follow_up(client)
        alerts_json = [
            {
                "id": alert.pk,
                "alert_type": alert.alert_type.key,
                "alert_type_name": alert.alert_type.name,
                "segment": alert.segment,
                "rule": {
                    "id": alert.rule.pk,
                    "key": alert.rule.key,
                    "name": alert.rule.name,
                    "legal_basis": alert.rule.legal_basis,
                }
                if alert.rule_id
                else None,
                "framework_version": {
                    "id": alert.rule_version.pk,
                    "name": alert.rule_version.name,
                    "effective_date": _text(alert.rule_version.effective_date),
                }
                if alert.rule_version_id
                else None,
                "message": alert.message,
                "opened_at": _text(alert.opened_at),
                "due_date": _text(alert.due_date),
                "status": alert.status,
                "status_reason": alert.status_reason,
                "assigned_to": _user(alert.assigned_to),
                "closed_at": _text(alert.closed_at),
                "values": alert.values,
                "explanation": alert.explanation,
                "data_when_raised": _client_data_when(client, alert.opened_at),
                "events": events.get(alert.pk, []),
                "follow_up": follow_up.by_alert.get(alert.pk, []),
                "responses": follow_up.responses.get(alert.pk, []),
            }
            for alert in alerts
        ]
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "generated_by": _user(user),
        "client": {
            "id": client.pk,
            "name": client.full_name,
            "birth_date": _text(client.birth_date),
            "team": str(client.team),
            "advisor": _user(client.advisor),
            "segment": client.segment,
            "client_since": _text(client.client_since),
        },
        "framework_runs": [
            {
                "version": run.version_id,
                "version_name": run.version.name,
                "version_effective_date": _text(run.version.effective_date),
                "started_at": _text(run.started_at),
                "finished_at": _text(run.finished_at),
                "alerts_opened": run.opened,
                "alerts_kept": run.kept,
                "alerts_closed": run.closed,
                "scope": "book" if not run.client_ids else "changed clients",
            }
            for run in runs
        ],
        "alerts": alerts_json,
        "messages": follow_up.messages,
        "responses_without_alert": follow_up.client_responses,
    }


def duty_of_care_json(document: dict) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False).encode()


# --- PDF ------------------------------------------------------------------------------------------

# The PDF's standard fonts are Latin-1: these few characters are written the ASCII way.
_PDF_TEXT = str.maketrans(
    {"→": "->", "–": "-", "—": "-", "€": "EUR ", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "·": "-"}
)


def _pdf_text(value) -> str:
    text = "" if value is None else str(value)
    return text.translate(_PDF_TEXT).encode("latin-1", "replace").decode("latin-1")


def duty_of_care_pdf(document: dict) -> bytes:
    """The same file as a PDF to read or print: one section per framework run list, alert, follow-up."""
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(_pdf_text(_("Duty-of-care file: %(name)s") % {"name": document["client"]["name"]}))
    pdf.set_author("Steward")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(width, 7, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def line(text: str) -> None:
        pdf.multi_cell(width, 4.5, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    client = document["client"]
    heading(_("Duty-of-care file: %(name)s") % {"name": client["name"]}, 16)
    line(
        _("Client %(id)s, team %(team)s, advisor %(advisor)s, segment %(segment)s.")
        % {
            "id": client["id"],
            "team": client["team"],
            "advisor": client["advisor"] or "-",
            "segment": client["segment"],
        }
    )
    line(_("Generated %(at)s by %(by)s.") % {"at": document["generated_at"], "by": document["generated_by"] or "-"})

    heading(_("Framework runs"))
    if not document["framework_runs"]:
        line(_("No framework run is recorded for this client."))
    for run in document["framework_runs"]:
        line(
            _("%(start)s: framework version %(name)s (id %(version)s), %(scope)s")
            % {
                "start": run["started_at"],
                "name": run["version_name"],
                "version": run["version"],
                "scope": run["scope"],
            }
        )

    heading(_("Alerts"))
    if not document["alerts"]:
        line(_("No alert was raised for this client."))
    for alert in document["alerts"]:
        heading(f"{alert['alert_type_name']} (#{alert['id']})", 11)
        rule, version = alert["rule"], alert["framework_version"]
        if rule:
            line(_("Rule: %(key)s, %(name)s") % {"key": rule["key"], "name": rule["name"]})
            if rule["legal_basis"]:
                line(_("Legal basis: %(basis)s") % {"basis": rule["legal_basis"]})
        if version:
            line(_("Framework version: %(name)s (id %(id)s)") % {"name": version["name"], "id": version["id"]})
        line(_("Raised %(at)s: %(message)s") % {"at": alert["opened_at"], "message": alert["message"]})
        line(
            _("Status: %(status)s; closed %(closed)s")
            % {"status": alert["status"], "closed": alert["closed_at"] or "-"}
        )
        if alert["values"]:
            line(_("Values: ") + ", ".join(f"{key} = {value}" for key, value in alert["values"].items()))
        for used in alert["explanation"]:
            line(
                "  "
                + _("%(name)s = %(value)s (source %(source)s, as of %(as_of)s)")
                % {
                    "name": used.get("name"),
                    "value": used.get("value"),
                    "source": used.get("source_label") or used.get("source"),
                    "as_of": used.get("as_of") or "-",
                }
            )
        data = {key: value for key, value in alert["data_when_raised"].items() if not key.startswith("_")}
        line(_("Client data when raised:"))
        for name, entry in data.items():
            if entry["value"] not in (None, ""):
                line(
                    f"  {name} = {entry['value']} ("
                    + _("source %(source)s, changed %(changed)s")
                    % {"source": entry["source"] or "-", "changed": entry["changed_at"] or "-"}
                    + ")"
                )
        for message in alert["follow_up"]:
            line(
                _("Follow-up: %(channel)s message #%(id)s, %(status)s (queued %(queued)s, sent %(sent)s)")
                % {
                    "channel": message["channel"],
                    "id": message["message"],
                    "status": message["status"],
                    "queued": message["queued_at"],
                    "sent": message["sent_at"] or "-",
                }
            )
        for response in alert["responses"]:
            line(
                _("Response: %(kind)s at %(at)s %(detail)s")
                % {
                    "kind": response["kind"],
                    "at": response["at"],
                    "detail": response.get("status") or response.get("flow") or "",
                }
            )
        for event in alert["events"]:
            line(
                _("%(at)s %(by)s: %(from)s -> %(to)s %(reason)s")
                % {
                    "at": event["at"],
                    "by": event["by"],
                    "from": event["from_status"] or "-",
                    "to": event["to_status"],
                    "reason": event["reason"],
                }
            )

    heading(_("All follow-up messages"))
    if not document["messages"]:
        line(_("No message was sent to this client."))
    for message in document["messages"]:
        line(
            f"#{message['message']} {message['channel']} {message['status']} "
            + _("queued %(queued)s") % {"queued": message["queued_at"]}
            + (f" - {message['subject']}" if message["subject"] else "")
        )
    return bytes(pdf.output())


def duty_of_care_filename(document: dict, extension: str) -> str:
    day = document["generated_at"][:10]
    return f"duty-of-care-client-{document['client']['id']}-{day}.{extension}"
