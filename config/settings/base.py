"""Steward settings, read from the environment.

Every value that differs between a laptop, CI and production comes from an environment variable
(or a `.env` file beside manage.py). Unset, the defaults give the embedded set-up of `make demo`:
SQLite in the project folder, Celery tasks run eagerly in-process and a local-memory cache.
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -----------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# In DEBUG a throwaway key is fine; in production a missing SECRET_KEY must stop the start-up.
SECRET_KEY = env(
    "SECRET_KEY",
    default="dev-only-insecure-key-for-local-demo-never-use-in-production" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",  # API tokens: made in Django admin or with `manage.py drf_create_token <user>`
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our own static files, no CDN
    "django_celery_beat",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "bootstrap",  # Bootstrap 5's CSS and JS as static files (django-bootstrap-static)
    "simple_history",  # the audit trail's history tables (registered in trust/audit_models.py)
    "csp",  # the Content-Security-Policy header (settings under Security)
    "axes",  # failed logins per account, and the lockout after too many
    "django_otp",  # second factor: TOTP devices (accounts/mfa.py)
    "django_otp.plugins.otp_totp",
    # Steward, in the order the data flows.
    "accounts",
    "clients",
    "ingestion",
    "enrichment",
    "framework",
    "alerts",
    "canvas",
    "followup",
    "insights",
    "trust",  # audit trail, privacy, duty-of-care file
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The audit trail records the logged-in user as the author of every change a request makes.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the second factor of this session
    # Every page needs a login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A user with an authenticator app enters its code before anything else; an admin without one sets it up.
    "accounts.mfa.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login attempt into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A sync in a background thread and a page reading its progress share the file: wait, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------------

# Without Redis there is no broker: tasks run in-process, at once, so the demo needs no worker.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Europe/Amsterdam"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic tasks live in the database and are edited in Django admin (django-celery-beat).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Authentication -------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before its password is even checked (django-axes).
    "accounts.auth_backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The REST API under /api/ (config/api.py). DRF views are exempt from LoginRequiredMiddleware: they
# authenticate themselves, and an anonymous call gets a 401 in the one error shape, not a redirect.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes an anonymous call a 401 rather than a 403.
        "rest_framework.authentication.TokenAuthentication",
        # The browser's session (the docs page); DRF checks its CSRF token on every write.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # 50 a page. The alert and client lists page by keyset in their own order (the queue's; by name),
    # up to 200 with `?page_size=` (see each app's apis.py); a generic list view gets cursor pages.
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": _(
        "Read the unified client view and work the alert queue. Authenticate with a token "
        "(header `Authorization: Token <key>`) or the session of a logged-in user. An advisor sees "
        "only their own team's clients and alerts. Every error has the same shape: "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    # OpenAPI 3.1: its schemas are JSON Schema, so the tests validate responses with jsonschema as is.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "ENUM_NAME_OVERRIDES": {
        "AlertStatusEnum": "alerts.models.Alert.Status",
        "AlertStatusFilterEnum": "alerts.serializers.STATUS_FILTERS",
        "AlertStatusChangeEnum": "alerts.serializers.STATUS_CHANGES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Internationalisation -------------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("nl", _("Dutch"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True
# Numbers read and shown the Dutch way (64.000). Ids in HTML attributes and URLs must then be written
# with `|unlocalize`, or "2,429" ends up in a checkbox value (a test with large ids guards it).
USE_THOUSAND_SEPARATOR = True
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static files and forms -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security -------------------------------------------------------------------------------------
# Production defaults are strict; DEBUG relaxes only what a laptop on plain http needs.

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 10  # a working day; client data should not sit in an idle session
X_FRAME_OPTIONS = "DENY"
# Health probes come over plain http from inside the network; never redirect them to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Content-Security-Policy (django-csp): only our own origin, and no inline script, style or event
# handler anywhere: behaviour lives in static/js, looks in static/css (templates set data- attributes
# that the JS reads). Bootstrap's CSS draws its icons from data: SVGs, hence img-src data:.
# tests/test_security_headers.py asserts the header, and a browser test fails on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login throttling (django-axes): per account, whatever the address the attempts come from. The 11th
# failed attempt within an hour is refused (429) until an hour after the last failure; an admin can
# lift the lock in Django admin (Access attempts) or with `manage.py axes_reset_username <name>`.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = False  # a correct guess by the owner must not give an attacker ten more tries
# Attempts refused during the lock are not counted again: the owner trying meanwhile does not prolong it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
# axes.W006 asks to lock by address too. Deliberately not: a firm's office reaches Steward from one
# address, and ten typos there would lock every colleague out for an hour. Per account is the limit
# that holds whatever address or cookie an attacker rotates through.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Second factor (django-otp, TOTP): offered to every user on /accounts/mfa/; required for admins
# (the Admin role, the only staff of Django admin) when this is true: an admin without a confirmed
# authenticator app is sent to set one up before any page. On by default in production, off in DEBUG
# so `make demo` logs in with the password alone.
STEWARD_MFA_REQUIRED_FOR_ADMINS = env.bool("STEWARD_MFA_REQUIRED_FOR_ADMINS", default=not DEBUG)
OTP_TOTP_ISSUER = "Steward"

# --- Email ----------------------------------------------------------------------------------------

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Steward <no-reply@steward.local>")

# --- Logging --------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Defence in depth: a BSN or IBAN that reaches a log record anyway is masked before it is written.
    "filters": {"mask_personal_numbers": {"()": "trust.privacy_logging.MaskPersonalNumbersFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_personal_numbers"]}
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO: too chatty for syncs of thousands of pages.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# --- Steward --------------------------------------------------------------------------------------

# What `manage.py setup_demo` runs after the demo users exist, in the order the data flows.
# Each entry is a function taking `stdout`; a later step adds its own entry here.
STEWARD_DEMO_STEPS: list[str] = [
    "clients.demo.demo_clients_load",
    "ingestion.demo.demo_sources_load",
    "ingestion.demo_files.demo_file_source_load",
    "enrichment.demo.demo_facts_load",
    "alerts.demo.demo_alerts_load",
    "followup.demo.demo_followup_load",  # playbooks, templates, advisor hours, consents
    # Keep last: 26 weeks of follow-up history and revenue for the insights (after the follow-up step).
    "insights.demo.demo_history_load",
]
# How many generated clients `make demo` loads (a few thousand keeps set-up under a minute).
STEWARD_DEMO_CLIENTS = env.int("STEWARD_DEMO_CLIENTS", default=3000)

# After a sync page commits, the clients it changed flow on to these Celery tasks (each takes a
# list of client ids), in the order the data flows. A later step adds its task here.
STEWARD_AFTER_SYNC_TASKS: list[str] = ["alerts.tasks.clients_changed"]
# PostgreSQL is the record of what is due; after Redis lost its queue, the beat task
# ingestion.tasks.reconcile_due_work calls these (each returns how many items it re-enqueued).
# Follow-up adds its own here: re-enqueue messages not sent yet.
STEWARD_RECONCILERS: list[str] = [
    "ingestion.services.reliability.syncs_due_enqueue",
    "followup.services.sending.messages_due_enqueue",
]
# After the framework opens alerts (or moves them to another segment), these functions (keyword
# argument alert_ids) set what later steps own, such as the canvas placement that gives each alert
# its priority and quadrant.
STEWARD_AFTER_ALERTS_OPENED: list[str] = ["canvas.services.alerts_place"]
# Before the framework opens alerts, these functions (keyword argument rows: the new alerts' column
# values) fill in what later steps own, so each new alert is written once, already placed.
STEWARD_ALERTS_PLACE_NEW: list[str] = ["canvas.services.alerts_place_new"]
# A count shown on an area of the navigation: a function taking the request.
STEWARD_NAV_BADGES: dict[str, str] = {"alerts": "alerts.selectors.nav_badge_new_urgent"}
# Bulk writes of the unified view (clients/bulk.py bypasses save()) are handed to this function,
# which records them in the audit trail; empty switches that off.
STEWARD_BULK_WRITE_AUDIT = "trust.audit.history_record_bulk"
# After each chunk of a framework run, these functions record it (keyword arguments version,
# client_ids, id_range, counts, started_at): which version ran when, on which clients.
STEWARD_AFTER_FRAMEWORK_RUN: list[str] = ["trust.duty_of_care.evaluation_run_record"]
# Templates included at the end of the 360° client page (context: client, user), so later steps add
# sections without the clients step importing them. Each may load its own template tags.
STEWARD_CLIENT_PAGE_SECTIONS: list[str] = ["trust/audit_client_section.html"]
# Templates included in the 360° page's contact timeline (context: client, user) and on an alert's
# page (context: alert, user), so earlier steps show follow-up's messages without importing it.
STEWARD_CLIENT_TIMELINE_SECTIONS: list[str] = ["followup/_client_timeline.html"]
STEWARD_ALERT_PAGE_SECTIONS: list[str] = ["followup/_alert_panel.html"]
# Follow-up (followup/conf.py has every setting and its default). The demo's email goes to an outbox
# folder that /followup/outbox/ lists; production uses EMAIL_BACKEND (SMTP). Links in messages start
# with STEWARD_FOLLOWUP_SITE_URL.
STEWARD_FOLLOWUP_EMAIL_BACKEND = env(
    "STEWARD_FOLLOWUP_EMAIL_BACKEND", default="followup.channels.OutboxEmailBackend" if DEBUG else ""
)
STEWARD_FOLLOWUP_SITE_URL = env("STEWARD_FOLLOWUP_SITE_URL", default="http://127.0.0.1:8000")
# Providers' delivery reports (POST /followup/webhooks/<provider>/delivery/, followup/services/delivery.py)
# are signed with a secret per provider: STEWARD_FOLLOWUP_WEBHOOK_SECRET_<PROVIDER> (e.g. ..._MESSAGEBIRD
# for provider "messagebird"). The demo's providers sign as "demo" with a published secret, in DEBUG only,
# and report right after dispatch.
STEWARD_FOLLOWUP_WEBHOOK_SECRETS = {
    name.removeprefix("STEWARD_FOLLOWUP_WEBHOOK_SECRET_").lower(): value
    for name, value in environ.Env.ENVIRON.items()
    if name.startswith("STEWARD_FOLLOWUP_WEBHOOK_SECRET_") and value
}
if DEBUG:
    STEWARD_FOLLOWUP_WEBHOOK_SECRETS.setdefault("demo", "dev-only-demo-webhook-secret-never-use-in-production")
STEWARD_FOLLOWUP_DEMO_DELIVERY_REPORTS = env.bool("STEWARD_FOLLOWUP_DEMO_DELIVERY_REPORTS", default=DEBUG)
# Without a broker (the demo), "Sync now" runs the sync in a background thread of the web process,
# so the page can show its progress; with Redis it goes to a Celery worker.
STEWARD_SYNC_IN_THREAD_WHEN_EAGER = env.bool("STEWARD_SYNC_IN_THREAD_WHEN_EAGER", default=DEBUG)

# The BSN may be processed only with a legal basis (Uitvoeringswet AVG, art. 46); off by default.
# A firm that has one switches it on and states it.
STEWARD_BSN_ENABLED = env.bool("STEWARD_BSN_ENABLED", default=False)
STEWARD_BSN_LEGAL_BASIS = env("STEWARD_BSN_LEGAL_BASIS", default="")
# The key of the BSN's blind index (HMAC-SHA256, trust/privacy_bsn.py): a key of its own, never
# SECRET_KEY. Required once STEWARD_BSN_ENABLED is on (a system check says so); changing it needs
# `manage.py privacy_bsn_reindex`.
STEWARD_BSN_INDEX_KEY = env(
    "STEWARD_BSN_INDEX_KEY", default="dev-only-bsn-index-key-never-use-in-production" if DEBUG else ""
)
# Error reports (the debug page, mails to ADMINS) mask BSNs and IBANs in variables and requests.
DEFAULT_EXCEPTION_REPORTER_FILTER = "trust.privacy_logging.PersonalDataExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "trust.privacy_logging.PersonalDataExceptionReporter"
# django-fernet-encrypted-fields derives the BSN encryption key from SECRET_KEY and this salt.
# Rotating SECRET_KEY needs the old key in SECRET_KEY_FALLBACKS, or stored BSNs cannot be read.
SALT_KEY = env.list("FIELD_ENCRYPTION_SALT", default=["steward-field-encryption"])
STEWARD_DEMO_PASSWORD = "steward-demo"  # noqa: S105 - the published demo password, demo only
