"""`celery -A config worker`, loaded ahead of time: it imports Django, the app and every task module
(and passes Django's checks), then waits for a line on its standard input before it connects to the
broker and takes work.

Loading is most of a worker's start-up (seconds, more on a busy CI machine), and the fault tests
replace a killed worker several times per test: a spare loaded while the current worker works takes
over at once when told (harness.CeleryWorker.standby/start). Until then it holds no connection and
takes no task, so it cannot take work from the worker the test is about to kill. A pipe rather than
a signal: a "go" written before the spare is ready waits in the pipe instead of being lost.

Usage: python -m ingestion.tests.faults.standby_worker <celery worker options>
"""

import os
import sys


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from celery.apps.worker import Worker  # noqa: F401  (loaded now, not after "go")
    from celery.concurrency import solo  # noqa: F401

    from config.celery import app

    app.loader.import_default_modules()  # the task modules, and Django's system checks (celery's fixup)
    os.environ["CELERY_SKIP_CHECKS"] = "1"  # they passed just now: the worker need not run them twice
    if not sys.stdin.readline():  # end of input: the test stopped without needing this worker
        return
    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
