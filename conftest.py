"""Shared test fixtures: the personas of Steward and the real-browser set-up."""

import os
import shutil
import threading
import weakref

import pytest
from django.conf import settings

# pytest-playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# there unless told it is safe (test-only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


def pytest_collection_modifyitems(config, items):
    """Skip what needs a service that is not configured; CI configures them all."""
    database_is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skips = {
        "postgres": (not database_is_postgres, "needs DATABASE_URL=postgres://..."),
        "redis": (not settings.REDIS_URL, "needs REDIS_URL"),
        "browser": (
            not CHROMIUM and not os.environ.get("STEWARD_REQUIRE_BROWSER"),
            "needs Debian's chromium (apt-get install chromium)",
        ),
    }
    for item in items:
        for marker, (skip, reason) in skips.items():
            if skip and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session", autouse=True)
def database_connections_closed_at_the_end(django_db_setup):
    """Close, at the end of the run, every connection the test thread opened, in whichever context.

    Django keeps a connection per context (asgiref's Local). From the first browser test on (where
    pytest-playwright starts its event loop and greenlets), the tests' queries went through a new
    connection in the same thread, while the run's end, dropping the test databases, closed only the
    one of the context the run started in. The other stayed open, idle, and PostgreSQL refused to
    drop a database "being accessed by other users": a warning at the end of every PostgreSQL run.
    """
    from django.db.backends.signals import connection_created

    opened = weakref.WeakSet()

    def remember(sender, connection, **kwargs):
        opened.add(connection)

    connection_created.connect(remember, weak=False)
    yield
    connection_created.disconnect(remember)
    for wrapper in list(opened):
        if wrapper._thread_ident == threading.get_ident():  # another thread's is closed by that thread
            wrapper.close()


# --- Personas -------------------------------------------------------------------------------------


@pytest.fixture
def team(db):
    from accounts.models import Team

    return Team.objects.get_or_create(name="Team Noord")[0]


@pytest.fixture
def other_team(db):
    from accounts.models import Team

    return Team.objects.get_or_create(name="Team Zuid")[0]


def _member(username, role, team=None, **fields):
    from accounts.services import user_create

    return user_create(username=username, password=PASSWORD, role=role, team=team, **fields)


@pytest.fixture
def advisor(team):
    """An advisor of Team Noord."""
    return _member("anouk", "Advisor", team, first_name="Anouk")


@pytest.fixture
def advisor_other_team(other_team):
    """An advisor of Team Zuid, who must never see Team Noord's clients."""
    return _member("bram", "Advisor", other_team, first_name="Bram")


@pytest.fixture
def back_office(db):
    return _member("carla", "Back office", first_name="Carla")


@pytest.fixture
def admin(db):
    return _member("daan", "Admin", first_name="Daan")


@pytest.fixture
def persona_password():
    return PASSWORD


@pytest.fixture(autouse=True)
def english_by_default():
    """Each test starts in English: a request in Dutch leaves its language active in the thread."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()
