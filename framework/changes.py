"""Which clients' files changed since the framework last evaluated them (PostgreSQL).

A night's run skips the clients whose files did not change (alerts.evaluation), so it must never
miss a change, however it was made: a sync, a bulk load, an edit in the admin, a queryset
`update()`, raw SQL. So the database itself keeps the list: a statement-level trigger on every
table a rule can read (the schema's scopes and collections, framework.language.schema) appends
to `framework_clientchange` the clients whose rule-readable columns changed. An UPDATE that
rewrites a row with the same values (the nightly facts refresh rewrites every row, with a new
`computed_at`) names nobody. A user's change to an alert's status (a dismissal, a resolution)
names its client too: the run decides again whether a new alert opens. The run's own writes to
alerts name nobody (it sets `steward.framework_run` for its transaction).

The triggers are made from the schema after every `migrate` (`change_triggers_install`, on
post_migrate), so a field or collection added to the schema is watched without a migration of
its own. New clients need no trigger: a client never evaluated is always evaluated.
"""

# ruff: noqa: S608 - the SQL here is made of the models' table and column names and this module's
# constants; every value travels as a parameter.

from dataclasses import dataclass

from django.db import connection

CHANGES_TABLE = "framework_clientchange"
RUN_SETTING = "steward.framework_run"


@dataclass(frozen=True)
class Watched:
    table: str
    key: str  # the primary key's column
    columns: tuple[str, ...]  # what a rule can read of a row, and what ties it to its client
    clients_sql: str  # the clients of the rows in `r`: SELECT ... FROM r ...
    events: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE")
    # Row by row, and only for a change of `columns` outside the framework's run (whose own writes
    # name nobody): most statements on the table change none of them (a canvas move re-prioritises
    # 100,000 alerts), and a statement's trigger would capture every row it touched. The rows carry
    # their `client_id` themselves.
    per_row: bool = False


def watched_tables() -> list[Watched]:
    """Every table a rule can read, with the columns that matter and how a row finds its clients."""
    from alerts.models import Alert
    from clients.models import Client, Household, Mortgage
    from enrichment.models import ClientFacts

    from .language.schema import schema

    spec = schema()
    client_table = Client._meta.db_table

    def column(model, name):
        return model._meta.get_field(name).column

    watched = [
        Watched(
            table=client_table,
            key="id",
            columns=(
                *sorted(column(Client, field.source_field) for field in spec.scopes["client"].values()),
                column(Client, "household"),
                column(Client, "deleted_at"),
            ),
            clients_sql="SELECT r.id FROM r",
            events=("UPDATE", "DELETE"),  # a new client has never been evaluated: it is evaluated anyway
        ),
        Watched(
            table=ClientFacts._meta.db_table,
            key=ClientFacts._meta.pk.column,
            columns=tuple(sorted(column(ClientFacts, field.source_field) for field in spec.scopes["facts"].values())),
            clients_sql=f"SELECT r.{ClientFacts._meta.pk.column} FROM r",
        ),
        Watched(
            table=Alert._meta.db_table,
            key="id",
            columns=(column(Alert, "client"), column(Alert, "status")),
            clients_sql="SELECT r.client_id FROM r",
            per_row=True,
        ),
    ]
    for collection in spec.collections.values():
        model = collection.model
        columns = {column(model, field.source_field) for field in collection.fields.values()}
        if "deleted_at" in {f.name for f in model._meta.concrete_fields}:
            columns.add(column(model, "deleted_at"))
        # A row's client is looked up row by row (a lateral sub-select the planner keeps as one, by
        # OFFSET 0): joined, a statement of a thousand rows hashed the whole table of mortgages or
        # clients, a cost that grew with the book (12 ms a statement at 100,000 clients).
        if collection.client_path == "household":
            columns.add(column(model, "household"))
            clients_sql = (
                f"SELECT c.id FROM r JOIN LATERAL (SELECT c.id FROM {client_table} c"
                " WHERE c.household_id = r.household_id OFFSET 0) c ON true"
            )
            assert model._meta.get_field("household").related_model is Household
        elif collection.client_path == "mortgage__client":
            columns.add(column(model, "mortgage"))
            clients_sql = (
                f"SELECT m.client_id FROM r JOIN LATERAL (SELECT m.client_id FROM {Mortgage._meta.db_table} m"
                " WHERE m.id = r.mortgage_id OFFSET 0) m ON true"
            )
        elif collection.client_path == "client":
            columns.add(column(model, "client"))
            clients_sql = "SELECT r.client_id FROM r"
        else:  # a new way for rows to reach their client: say how, here
            raise NotImplementedError(f"{collection.name}: rows reach their client by {collection.client_path}")
        watched.append(
            Watched(
                table=model._meta.db_table,
                key=model._meta.pk.column,
                columns=tuple(sorted(columns)),
                clients_sql=clients_sql,
            )
        )
    return watched


def _note_sql(client_ids: str) -> str:
    """Name the clients whose ids `client_ids` (SQL giving one column) yields.

    A client already named stays named once; its row is locked (not rewritten: `WHERE false`) until
    this transaction ends, so a run taking the notes off (`clients_due`) waits for this change to
    commit and then reads it, rather than taking the note off and reading the file as it was.
    """
    return (
        f"INSERT INTO {CHANGES_TABLE} (client_id) SELECT DISTINCT x.id FROM ({client_ids}) x (id)"
        " WHERE x.id IS NOT NULL ORDER BY 1 ON CONFLICT (client_id) DO UPDATE SET client_id = excluded.client_id"
        " WHERE false"
    )


def _function_sql(watched: Watched) -> str:
    if watched.per_row:
        inserted, deleted, updated = (
            "VALUES (NEW.client_id)",
            "VALUES (OLD.client_id)",
            "VALUES (NEW.client_id), (OLD.client_id)",
        )
    else:
        differs = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in watched.columns)
        changed = f"new_rows n JOIN old_rows o ON o.{watched.key} = n.{watched.key} WHERE {differs}"

        def clients(rows: str) -> str:
            return watched.clients_sql.replace(" FROM r", f" FROM ({rows}) r", 1)

        inserted, deleted = clients("SELECT * FROM new_rows"), clients("SELECT * FROM old_rows")
        # A row moved to another client names both.
        updated = f"{clients(f'SELECT n.* FROM {changed}')} UNION ALL {clients(f'SELECT o.* FROM {changed}')}"
    name = f"steward_fw_changed_{watched.table}"
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_note_sql(inserted)};
    ELSIF TG_OP = 'DELETE' THEN
        {_note_sql(deleted)};
    ELSE
        {_note_sql(updated)};
    END IF;
    RETURN NULL;
END
$body$"""


def _trigger_sql(watched: Watched) -> list[str]:
    function = f"steward_fw_changed_{watched.table}"
    statements = []
    for event in ("INSERT", "UPDATE", "DELETE"):
        trigger = f"steward_fw_changed_{event.lower()}"
        statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {watched.table}")
        if event not in watched.events:
            continue
        if watched.per_row:
            statements.append(_row_trigger_sql(watched, event, trigger, function))
            continue
        referencing = {
            "INSERT": "REFERENCING NEW TABLE AS new_rows",
            "UPDATE": "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows",
            "DELETE": "REFERENCING OLD TABLE AS old_rows",
        }[event]
        statements.append(
            f"CREATE TRIGGER {trigger} AFTER {event} ON {watched.table} {referencing}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def _row_trigger_sql(watched: Watched, event: str, trigger: str, function: str) -> str:
    not_the_run = f"current_setting('{RUN_SETTING}', true) IS DISTINCT FROM 'on'"
    if event == "UPDATE":
        differs = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in watched.columns)
        when, event = f"({differs}) AND {not_the_run}", f"UPDATE OF {', '.join(watched.columns)}"
    else:
        when = not_the_run
    return (
        f"CREATE TRIGGER {trigger} AFTER {event} ON {watched.table}"
        f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {function}()"
    )


def change_triggers_install(using: str = "default", **_kwargs) -> None:
    """(Re)create the change triggers from the schema (PostgreSQL; elsewhere nothing is skipped)."""
    from django.db import connections

    target = connections[using]
    if target.vendor != "postgresql":
        return
    with target.cursor() as cursor:
        for watched in watched_tables():
            cursor.execute(_function_sql(watched))
            for statement in _trigger_sql(watched):
                cursor.execute(statement)


# --- Which clients a run evaluates, and what it remembers of them ---------------------------------

# Bump when what an evaluation computes changes with the code (not the rules): every client is then
# evaluated again on the next night.
EVALUATION_REVISION = 1


def rules_key(programs) -> str:
    """What a client's evaluation was made with: the rules (as they compile), the language of its
    messages and its formats. A client evaluated under another key is evaluated again."""
    import hashlib

    from django.utils.translation import get_language

    from .staging import _language_formats, _rule_key

    parts = [EVALUATION_REVISION, get_language(), repr(_language_formats(get_language()))]
    parts += [_rule_key(rule) for rule, _program in programs]
    return hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()


def clients_due(*, client_id_range: tuple[int, int], key: str, today) -> list[int]:
    """The current clients of the range that tonight's run must evaluate: never evaluated, or under
    other rules, or changed since, or past their horizon (framework.horizon), or evaluated for a
    later day than `today`. Their change marks are taken off here, in the caller's transaction, so
    a change committed after this statement is evaluated on the next night, never lost."""
    from clients.models import Client

    from .models import ClientEvaluation

    evaluation, client = ClientEvaluation._meta.db_table, Client._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH changed AS (DELETE FROM {CHANGES_TABLE} WHERE client_id >= %s AND client_id < %s
                RETURNING client_id)
            SELECT c.id FROM {client} c
            LEFT JOIN {evaluation} e ON e.client_id = c.id AND e.client_id >= %s AND e.client_id < %s
            WHERE c.id >= %s AND c.id < %s AND c.deleted_at IS NULL
            AND (e.client_id IS NULL OR e.rules_key <> %s OR e.evaluated_on > %s OR e.valid_until <= %s
                 OR c.id IN (SELECT client_id FROM changed))
            ORDER BY c.id""",
            # The range on both tables: else the planner hashed every client's evaluation (a million).
            [*client_id_range, *client_id_range, *client_id_range, key, today, today],
        )
        return [row[0] for row in cursor.fetchall()]


def book_due(*, key: str, today, low: int, size: int) -> dict[int, tuple[int, list[int]]]:
    """Per range of `size` client ids from `low` (the chunks of a whole-book run): how many current
    clients it holds and which of them tonight's run must evaluate (as `clients_due` decides), in
    one statement over the book. Reads the change marks without taking them off: the run of each
    range or batch of clients takes them in its own transaction (`clients_due`, `changes_take`), so
    a change committed after this read is evaluated by that run or on the next night, never lost."""
    from clients.models import Client

    from .models import ClientEvaluation

    evaluation, client = ClientEvaluation._meta.db_table, Client._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (c.id - %s) / %s AS bucket, count(*),
                array_agg(c.id ORDER BY c.id) FILTER (WHERE e.client_id IS NULL OR e.rules_key <> %s
                    OR e.evaluated_on > %s OR e.valid_until <= %s OR m.client_id IS NOT NULL)
            FROM {client} c
            LEFT JOIN {evaluation} e ON e.client_id = c.id
            LEFT JOIN {CHANGES_TABLE} m ON m.client_id = c.id
            WHERE c.deleted_at IS NULL
            GROUP BY bucket""",
            [low, size, key, today, today],
        )
        return {bucket: (clients, due or []) for bucket, clients, due in cursor.fetchall()}


def changes_take(client_ids) -> None:
    """Take the change marks of these clients off, before they are evaluated (see `clients_due`)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {CHANGES_TABLE} WHERE client_id = ANY(%s)", [sorted(client_ids)])


def changes_of_gone_clients_clear() -> int:
    """Take off the marks of clients that are gone (erased, merged) or deleted: a night's run reaches
    neither (no range reaches an id past the last client's, and a planned night reads current
    clients only). Run with every whole-book evaluation; how many it took off."""
    from clients.models import Client

    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {CHANGES_TABLE} m WHERE NOT EXISTS"
            f" (SELECT 1 FROM {Client._meta.db_table} c WHERE c.id = m.client_id AND c.deleted_at IS NULL)"
        )
        return cursor.rowcount


def run_writes_mark(cursor, *, on: bool = True) -> None:
    """The run's own writes to alerts name nobody, from here until `on=False` (at the latest, the end
    of the transaction: a caller's own writes later in it must name their clients again)."""
    cursor.execute("SELECT set_config(%s, %s, true)", [RUN_SETTING, "on" if on else "off"])


def evaluations_record(
    *, programs, today, key: str, client_id_range: tuple[int, int] | None = None, client_ids=None
) -> None:
    """Remember, for the current clients just evaluated, the rules' key, the day and the horizon.

    Reads the staging table of this chunk's findings (`framework.staging.STAGING_TABLE`), so it runs
    in the chunk's transaction, after the findings were staged. The statement is compiled once per
    rules, day and kind of scope (one changed client's run compiles nothing). For named clients it is
    also prepared, once per connection: planning it (a horizon per rule) took 2 of its 4 ms."""
    from .staging import (
        FEATURES_ENABLED,
        PLANNER_SETTINGS_RESTORE,
        PLANNER_SETTINGS_SET,
        _feature_plan,
        _prepared,
        _prepared_record,
        _swap,
        statements_run,
    )

    by_range = client_id_range is not None
    # A range's feature table (the chunk's aggregates, facts and home, staged by `findings_stage` in
    # this transaction, narrowed to the clients evaluated) is read instead of a subquery per client.
    plan = _feature_plan(programs, today) if by_range and FEATURES_ENABLED else None
    cache_key = (key, today, by_range, plan.table if plan is not None else None)
    compiled = _RECORD_SQL.get(cache_key)
    if compiled is None:
        if len(_RECORD_SQL) > 64:  # days gone by, rules of other versions
            _RECORD_SQL.clear()
        compiled = _RECORD_SQL[cache_key] = _record_sql(programs, today, key, by_range, plan)
    sql, params = compiled
    with connection.cursor() as cursor:
        if by_range:
            cursor.execute(sql, _swap(list(params), client_id_range))
            return
        params = list(params)
        name, prepare = _prepared(sql, params)
        if prepare is not None:
            cursor.execute(prepare)
            _prepared_record(sql, params, name)
        execute = (f"EXECUTE {name}(%s)", [sorted(client_ids)])
        statements_run(cursor, [PLANNER_SETTINGS_SET, execute, PLANNER_SETTINGS_RESTORE])


_RECORD_SQL: dict = {}  # (rules key, day, by range, feature table) -> (SQL, parameters with markers)


def _record_sql(programs, today, key: str, by_range: bool, plan=None) -> tuple[str, tuple]:
    from contextlib import nullcontext

    from django.db.models import F

    from clients.bulk import EqualsAny
    from clients.models import Client

    from .horizon import horizon_annotations
    from .language.orm import aggregate_columns
    from .models import ClientEvaluation
    from .staging import _HIGH, _IDS, _LOW, STAGING_TABLE, _feature_expressions

    client_column = f'"{Client._meta.db_table}"."id"'
    features = aggregate_columns(_feature_expressions(plan)) if plan is not None else nullcontext()
    with features:
        aliases, annotations = horizon_annotations(
            programs, today, findings_table=STAGING_TABLE, client_column=client_column
        )
    clients = Client.objects.filter(deleted_at__isnull=True)
    clients = clients.filter(pk__gte=_LOW, pk__lt=_HIGH) if by_range else clients.filter(EqualsAny(F("pk"), _IDS))
    if plan is not None:  # one feature row per client evaluated: an inner join keeps exactly those
        clients = clients.extra(tables=[plan.table], where=[f"{plan.table}.client_id = {client_column}"])  # noqa: S610 - names of this module
    query = clients.alias(**aliases).annotate(**annotations).values("pk", "fw_horizon").order_by()
    select_sql, select_params = query.query.sql_with_params()
    table = ClientEvaluation._meta.db_table
    sql = f"""INSERT INTO {table} (client_id, rules_key, evaluated_on, valid_until)
        SELECT q.client_id, %s, %s, q.horizon FROM ({select_sql}) q (client_id, horizon)
        ON CONFLICT (client_id) DO UPDATE SET rules_key = excluded.rules_key,
            evaluated_on = excluded.evaluated_on, valid_until = excluded.valid_until"""
    return sql, (key, today, *select_params)
