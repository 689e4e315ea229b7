"""Celery entry points of the canvas. Thin: one service call."""

from celery import shared_task


@shared_task
def reapply_placements():
    """Nightly: every live alert takes its card's place again (deadline bands move with the date)."""
    from .services import placements_reapply

    return placements_reapply()
