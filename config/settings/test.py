"""Test settings: the base settings with what makes a test run fast and deterministic.

DATABASE_URL and REDIS_URL still decide where the tests run: unset, SQLite and eager Celery;
set (as in CI), the real PostgreSQL and Redis.
"""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-checks-0123456789")

from .base import *  # noqa: F403
from .base import DATABASES, STORAGES

ALLOWED_HOSTS = ["*"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Fast hashing: the suite logs users in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic first; tests serve static files plainly.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LANGUAGE_CODE = "en"
# Tasks run in-process in tests, also when REDIS_URL points at a real Redis (as in CI): a test that
# needs a real worker starts one and says so with the `redis` marker.
CELERY_TASK_ALWAYS_EAGER = True
# The personas log in with force_login (no second factor); tests/test_mfa.py switches this on.
STEWARD_MFA_REQUIRED_FOR_ADMINS = False
# The dashboard's quadrant counts are cached for a minute (alerts.selectors); a test sees every
# write at once (alerts/tests/test_dashboard.py switches the cache on where it checks it).
STEWARD_ALERT_COUNTS_CACHE_SECONDS = 0
# The BSN's blind index needs a key of its own (trust/privacy_bsn.py); tests give it one.
STEWARD_BSN_INDEX_KEY = "test-bsn-index-key-not-the-secret-key"
# Tests that commit (browser tests) are cleaned up with one TRUNCATE of every table. The audit trail
# refuses TRUNCATE (trust.audit); it lets the test database's sessions through with this setting.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c steward.audit_allow_truncate=on"
