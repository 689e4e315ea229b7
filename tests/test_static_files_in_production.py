"""The static files as production serves them: collected with the manifest storage (DEBUG off).

The image runs `collectstatic` when it is built (Dockerfile) and serves with
`CompressedManifestStaticFilesStorage`, which finds every `{% static %}` path through the manifest
that `collectstatic` wrote. Collected without it, every page fails; and a file that names another
one the checkout does not have (a source map) fails the collection itself.
"""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
STATIC_TAG = re.compile(r"""\{%\s*static\s+['"]([^'"]+)['"]""")


def _static_paths_in_templates() -> set[str]:
    paths = set()
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" not in template.parts:
            paths.update(STATIC_TAG.findall(template.read_text(encoding="utf-8")))
    return paths


@pytest.fixture
def production_static(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


def test_every_static_file_a_template_names_is_collected_under_a_hashed_name(production_static):
    paths = _static_paths_in_templates()
    assert "vendor/chartjs/chart.umd.min.js" in paths and len(paths) >= 5
    for path in sorted(paths):
        url = staticfiles_storage.url(path)
        hashed = url.removeprefix("/static/")
        assert hashed != path, f"{path} has no hashed name"
        assert (production_static / hashed).exists(), f"{path}: {hashed} was not collected"


@pytest.mark.django_db
def test_the_login_page_renders_with_the_collected_files(production_static, client):
    response = client.get(reverse("login"), secure=True)
    assert response.status_code == 200
    assert re.search(r"/static/img/favicon\.[0-9a-f]{12}\.svg", response.content.decode())


def test_the_image_collects_the_static_files_as_production_serves_them():
    build = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if "collectstatic" in line)
    assert "DEBUG=true" not in build.replace(" ", ""), "collected with DEBUG on, the image has no manifest"
