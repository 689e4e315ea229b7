"""Bulk writes of the unified view, told to the audit trail; and on whose behalf writes happen.

`clients/bulk.py` writes thousands of rows with COPY and `UPDATE ... FROM`, which bypass `save()`
and so the per-object history a later step keeps (trust's audit trail). Its writers call
`bulk_written` with the rows they are about to update (or have just inserted); the function that
records them is named in settings.STEWARD_BULK_WRITE_AUDIT, so this step never imports trust.

`written_by` says on whose behalf the writes inside a block happen (a user, a source key, a
reason), for code that writes without a request: a service called with `user=`, a sync, a
management command. The audit trail reads it through `write_origin`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class WriteOrigin:
    user: object = None  # a User, or None for a system
    source: str = ""  # a source key ("hubspot", "manual", "client"), or "" for a person's own edit
    reason: str = ""


_origin: ContextVar[WriteOrigin] = ContextVar("steward_write_origin", default=WriteOrigin())  # noqa: B039 - frozen, never mutated


@contextmanager
def written_by(*, user=None, source: str = "", reason: str = "") -> Iterator[WriteOrigin]:
    """Writes inside this block happen on behalf of `user` and/or `source` (nested blocks override)."""
    token = _origin.set(WriteOrigin(user=user, source=source, reason=reason))
    try:
        yield _origin.get()
    finally:
        _origin.reset(token)


def write_origin() -> WriteOrigin:
    return _origin.get()


@cache
def _recorder(path: str):
    return import_string(path)


def bulk_written(model, rows: list, field_names: list[str] | None, *, staging: str | None = None) -> None:
    """Rows of `model` about to be updated in `field_names` (None: rows just inserted, with their ids).

    `staging`: the temporary table that holds the update's primary keys and new values, when there
    is one (PostgreSQL), so the recorder can compare in SQL.
    """
    path = getattr(settings, "STEWARD_BULK_WRITE_AUDIT", "")
    if path and rows:
        _recorder(path)(model=model, rows=rows, field_names=field_names, staging=staging)
