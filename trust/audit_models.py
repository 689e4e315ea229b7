"""Which models the audit trail keeps a history of, registered centrally (django-simple-history).

Every change to client data, the advisory framework, the canvas, follow-up playbooks and templates,
users, teams, roles and their permissions gets a history row: a full snapshot of the object after
the change, who made it (`history_user_id`, and the name as it was then), or which source
(`history_source`), when, and why. Field-level diffs (old → new) are the difference between an
object's consecutive snapshots (`trust.audit_selectors`).

The history models belong to this app (`app="trust"`), so their tables live in trust's migrations
and no other app's models change. Saves record themselves (simple-history's signals); bulk writes of
the sync engine are recorded by `trust.audit.history_record_bulk`. On PostgreSQL the tables refuse
UPDATE, DELETE and TRUNCATE (`trust.audit.AUDIT_TRIGGER_SQL`).

Imported by trust/models.py, so the history models exist when Django loads trust's models.
"""

from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history import register
from simple_history.models import HistoricalRecords

import accounts.models
import canvas.models
import clients.models
import framework.models


class AuditRecord(models.Model):
    """What every history row says beyond simple-history's own fields."""

    # The source on whose behalf a bulk write happened ("hubspot", "manual", "client"); empty for a
    # person's own edit in Steward.
    history_source = models.CharField(_("source"), max_length=100, blank=True, default="")
    # The user's name as it was: a user deleted or renamed later still reads as who did it.
    history_username = models.CharField(_("by"), max_length=150, blank=True, default="")

    class Meta:
        abstract = True


def _user_for_history(instance, request, **kwargs):
    from .audit import history_user_for

    return history_user_for(instance=instance, request=request)


class AuditedHistoricalRecords(HistoricalRecords):
    """simple-history's records, with the change reason from `clients.audit_hook.written_by`, and
    no row for a save of untracked fields only (a login saves `last_login`: nobody changed the user)."""

    def post_save(self, instance, created, using=None, **kwargs):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= set(self.excluded_fields):
            return
        super().post_save(instance, created, using=using, **kwargs)

    def get_change_reason_for_object(self, instance, history_type, using):
        from .audit import history_reason_for

        return history_reason_for(instance=instance) or super().get_change_reason_for_object(
            instance, history_type, using
        )


# Fields never copied into the trail. The BSN and its blind index: an immutable trail must not hold a
# national id number (data minimisation, AVG art. 5; the BSN is encrypted at rest and off by default
# anyway). Derived
# search text, password hashes and login times are not changes anyone makes.
EXCLUDED_FIELDS = {
    clients.models.Client: ["bsn", "bsn_blind_index", "search_name"],
    accounts.models.User: ["password", "last_login"],
}
# Many-to-many fields whose changes are changes of the object (roles and permissions).
M2M_FIELDS = {
    accounts.models.User: ["groups", "user_permissions"],
    Group: ["permissions"],
}
# Client data that is not a change anyone makes: the log of who opened a client page.
NOT_AUDITED = {"ClientPageView"}


def _client_models() -> list[type[models.Model]]:
    """Every concrete model of the unified client view: a model added there is audited by default."""
    found = []
    for value in vars(clients.models).values():
        if (
            isinstance(value, type)
            and issubclass(value, models.Model)
            and not value._meta.abstract
            and value._meta.app_label == "clients"
            and value.__name__ not in NOT_AUDITED
        ):
            found.append(value)
    return found


def _followup_models() -> list[type[models.Model]]:
    """Playbooks, their steps and message templates (follow-up's configuration), and each client's
    contact rules (an opt-out is client data)."""
    try:
        import followup.models as followup
    except ImportError:  # pragma: no cover - follow-up always has models now
        return []
    names = ("Playbook", "PlaybookStep", "MessageTemplate", "ClientContactRules")
    return [getattr(followup, name) for name in names if hasattr(followup, name)]


AUDITED_MODELS: list[type[models.Model]] = [
    *_client_models(),
    framework.models.FrameworkVersion,
    framework.models.Rule,
    framework.models.ReportedValue,
    framework.models.ConditionNode,
    framework.models.DecisionInput,
    framework.models.DecisionRow,
    canvas.models.Placement,
    canvas.models.Split,
    *_followup_models(),
    accounts.models.User,
    accounts.models.Team,
    Group,
]


def foreign_key_to(model: type[models.Model], target: type[models.Model]) -> str | None:
    """The attname of the first foreign key of `model` to `target`, if it has one."""
    for field in model._meta.fields:
        if isinstance(field, models.ForeignKey) and field.remote_field.model is target:
            return field.attname
    return None


def _unsearched_foreign_keys(model) -> list[str]:
    """Foreign keys whose copies in the history are never looked up: no index for them there.

    The trail is read by object (`id`) and, for the client page, by the one key that ties a row to
    the client (`audit_selectors.client_changes`: its client, else its mortgage, else its
    household). An index on any other key (a client's team, advisor or household, an income's
    employment) only cost every bulk write of the sync.
    """
    searched = None
    if model is not clients.models.Client:
        targets = (clients.models.Client, clients.models.Mortgage, clients.models.Household)
        searched = next(filter(None, (foreign_key_to(model, target) for target in targets)), None)
    return [f.name for f in model._meta.fields if isinstance(f, models.ForeignKey) and f.attname != searched]


def _has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.fields)


def _register_all() -> None:
    for model in AUDITED_MODELS:
        if hasattr(model._meta, "simple_history_manager_attribute"):
            continue  # registered already (a second import of this module)
        register(
            model,
            app="trust",
            records_class=AuditedHistoricalRecords,
            bases=[AuditRecord],
            excluded_fields=[name for name in EXCLUDED_FIELDS.get(model, []) if _has_field(model, name)],
            m2m_fields=M2M_FIELDS.get(model, []),
            no_db_index=_unsearched_foreign_keys(model),
            # A history row outlives the user: an id, not a foreign key the database would null or
            # cascade (which the immutable tables would refuse anyway).
            history_user_id_field=models.BigIntegerField(null=True, blank=True, db_index=True),
            history_id_field=models.BigAutoField(primary_key=True),
            history_change_reason_field=models.TextField(null=True, blank=True),
            get_user=_user_for_history,
        )


_register_all()
