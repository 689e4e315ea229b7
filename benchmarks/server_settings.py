"""Settings of the web server the dashboard benchmark starts: production settings, served over plain HTTP.

Everything comes from config.settings.base (DEBUG off, so no query log), except what a server on
127.0.0.1 without TLS and without `collectstatic` needs: no HTTPS redirect or secure-only cookies,
and static URLs without the manifest (the benchmark never fetches static files).
"""

from config.settings.base import *  # noqa: F403

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
