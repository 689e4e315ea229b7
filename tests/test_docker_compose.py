"""docker-compose.yml is well-formed and speaks the same language as the settings.

No Docker engine runs on these machines, so the file is parsed and checked against the Compose
specification's published JSON schema (shared/specs) rather than started.
"""

import ast
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATHS = [
    ROOT.parent / "shared" / "specs" / "compose-spec.schema.json",
    ROOT / "tests" / "compose-spec.schema.json",
]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _settings_environment_variables() -> set[str]:
    """Every name that config/settings/base.py reads with env(...), env.bool(...), env.db(...) etc."""
    tree = ast.parse((ROOT / "config" / "settings" / "base.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        is_env_call = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        )
        if is_env_call:
            names.add(node.args[0].value)
    return names


def test_compose_file_follows_the_compose_specification(compose):
    schema_path = next((path for path in SCHEMA_PATHS if path.exists()), None)
    if schema_path is None:
        pytest.skip("the Compose schema (shared/specs/compose-spec.schema.json) is not beside the checkout")
    # The schema names draft-07 without the trailing "#", so say which validator to use.
    jsonschema.Draft7Validator(json.loads(schema_path.read_text())).validate(compose)


def test_compose_runs_web_worker_beat_postgres_and_redis_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    assert {"postgres-data", "redis-data"} <= set(compose["volumes"])


def test_app_services_read_only_variables_the_settings_know(compose):
    known = _settings_environment_variables()
    for name in ("web", "worker", "beat"):
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - known
        assert not unknown, f"{name} sets variables the settings never read: {unknown}"
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"} <= set(environment)


def test_database_and_broker_urls_point_at_the_compose_services(compose):
    environment = compose["services"]["web"]["environment"]
    postgres = compose["services"]["postgres"]["environment"]
    database_url = environment["DATABASE_URL"]
    assert database_url == (
        f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")


def test_commands_start_gunicorn_and_celery_on_the_project_modules(compose):
    from config import wsgi  # noqa: F401 - the module gunicorn is told to load must exist
    from config.celery import app

    services = compose["services"]
    web_command = services["web"]["command"]
    assert re.search(r"gunicorn config\.wsgi:application", web_command)
    assert "migrate --noinput" in web_command
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    beat = services["beat"]["command"]
    assert beat[:4] == ["celery", "-A", "config", "beat"]
    assert beat[beat.index("--scheduler") + 1] == app.conf.beat_scheduler
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
