"""Celery entry points for evaluating the framework. Thin: ids in, one service call."""

from celery import group, shared_task

from .evaluation import book_night_plan, client_id_chunks, framework_run, framework_run_range


@shared_task(acks_late=True)
def clients_changed(client_ids: list[int]):
    """After a sync or a correction: refresh the changed clients' derived values, then their alerts."""
    from enrichment.services import facts_refresh

    facts_refresh(client_ids=client_ids)
    summary = framework_run(client_ids=set(client_ids))
    return {"opened": summary.counts.opened, "closed": summary.counts.closed}


@shared_task(acks_late=True)
def evaluate_range(start: int, stop: int):
    summary = framework_run_range(start=start, stop=stop)
    return {"opened": summary.counts.opened, "kept": summary.counts.kept, "closed": summary.counts.closed}


@shared_task(acks_late=True)
def evaluate_clients(client_ids: list[int]):
    """A batch of a night's due clients, by name (see `alerts.evaluation.book_plan`)."""
    summary = framework_run(client_ids=set(client_ids))
    return {"opened": summary.counts.opened, "kept": summary.counts.kept, "closed": summary.counts.closed}


@shared_task
def evaluate_all():
    """Nightly: the whole book in chunks (ranges of client ids, or batches of the clients due in
    quiet ranges), one task each, run in parallel by the workers."""
    plan = book_night_plan()
    if plan is None:
        tasks = [evaluate_range.s(start, stop) for start, stop in client_id_chunks()]
    else:
        tasks = [evaluate_range.s(start, stop) for start, stop in plan.ranges]
        tasks += [evaluate_clients.s(batch) for batch in plan.batches]
    return group(tasks).apply_async().id if tasks else None


@shared_task
def wake_snoozed_alerts():
    from .services import alerts_wake_snoozed

    return alerts_wake_snoozed()
