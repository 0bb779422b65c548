"""Settings for the playbook execution tracker, read from the environment.

With nothing set the app runs on SQLite with a local-memory cache, so a newcomer needs no
services. Every variable is listed in `.env.example`.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
TESTING = "pytest" in sys.modules

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-key-for-development-and-tests-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name hosts; '*' is refused.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_ratelimit",
    "workflows",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tracker.middleware.UserTimeZoneMiddleware",
    "tracker.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "tracker.urls"
WSGI_APPLICATION = "tracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite when DATABASE_URL is unset. On PostgreSQL connections are kept open
# (opening one costs more than a whole tracking transaction) and every wait is bounded well
# below gunicorn's worker timeout.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Tests start a thread per live-server request: connections must not outlive them.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if TESTING else 300),
        conn_health_checks=True,
    )
}
# The longest a request waits on one query: PostgreSQL cancels it then, and the app gives up on
# a server that hangs and cannot (tracker.middleware.QueryDeadline).
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 5000)
DB_QUERY_DEADLINE_SECONDS = DB_STATEMENT_TIMEOUT_MS / 1000
# When a client may try again after a database outage (Retry-After of the 503).
DATABASE_RETRY_AFTER_SECONDS = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that needs no round trip (tracker/postgres).
    DATABASES["default"]["ENGINE"] = "tracker.postgres"
    # Parameters are sent apart from the statement (server-side binding), so that psycopg
    # prepares a statement after this many runs on a connection and PostgreSQL plans it once
    # per connection. -1 turns preparing off, for a pooler in transaction mode that cannot keep
    # prepared statements.
    prepare_after = env_int("DB_PREPARE_THRESHOLD", 5)
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": prepare_after if prepare_after >= 0 else None,
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 2),
        "options": " ".join(
            [
                f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
                f"-c lock_timeout={env_int('DB_LOCK_TIMEOUT_MS', 2000)}",
                "-c idle_in_transaction_session_timeout=10000",
                # A prepared statement's generic plan can be costed high enough for JIT, which
                # then compiles on every run for far longer than the short query takes.
                "-c jit=off",
            ]
        ),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SILENCED_SYSTEM_CHECKS: list[str] = []

# Cache: Redis when REDIS_URL is set (it also backs the rate limits, shared by every worker).
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # One process only (the quick start): a local-memory cache is enough for the limits.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

if TESTING:
    # Hashing at full strength is what makes a password slow to guess; tests need no such thing.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The product speaks English only. Without the translation machinery, every URL reversed and
# every number shown skips a look-up of the active language (Django's advice when unused).
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG or TESTING:
    # Served straight from the source folders: no collectstatic, no manifest to build.
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    WHITENOISE_AUTOREFRESH = True
    WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "analytics:overview"
LOGOUT_REDIRECT_URL = "login"
# Whether anyone may create an account at /accounts/signup/.
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP")

# Tracking bodies are small; anything bigger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Playbook execution tracker API",
    "DESCRIPTION": "Record playbook executions from the site script; manage playbooks and sites.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tracker.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "analytics.models.Execution.Status",
        "WorkflowStatusEnum": "workflows.models.Workflow.Status",
    },
}

# Rate limits of the tracking endpoint (rates as django-ratelimit writes them): per client IP and
# per site key. The defaults are far above what one visitor or one busy site sends.
TRACKING_RATELIMIT_IP = env_str("TRACKING_RATELIMIT_IP", "1200/m")
TRACKING_RATELIMIT_SITE = env_str("TRACKING_RATELIMIT_SITE", "60000/m")
# Behind a proxy, the request header (META key) that holds the client address.
RATELIMIT_IP_META_KEY = env_str("RATELIMIT_IP_META_KEY") or None

# How late a queued execution may arrive (startedAt in the past), and the clock skew
# tolerated for a startedAt in the future.
TRACKING_MAX_DELAY_SECONDS = env_int("TRACKING_MAX_DELAY_SECONDS", 7 * 24 * 3600)
TRACKING_MAX_CLOCK_SKEW_SECONDS = env_int("TRACKING_MAX_CLOCK_SKEW_SECONDS", 300)

SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO") else None
)

# HTTPS in production: redirect, HSTS, cookies only over HTTPS. Off for local development
# and the tests, which speak plain HTTP to 127.0.0.1.
PRODUCTION = not (DEBUG or TESTING)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not SECURE_HSTS_PRELOAD:
    # Preloading is a commitment each operator makes for their domain (SECURE_HSTS_PRELOAD=1).
    SILENCED_SYSTEM_CHECKS += ["security.W021"]

# Every page: scripts and styles only from our own static files (htmx included), no inline
# code but what carries the request's nonce, no framing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# How long single executions are kept by `manage.py prune_executions` (counters and the
# hourly rollup are kept for ever).
EXECUTION_RETENTION_DAYS = env_int("EXECUTION_RETENTION_DAYS", 90)

# Login attempts per client IP (django-ratelimit rate), each counted before its password is
# checked; the next attempt answers 429.
LOGIN_RATELIMIT = env_str("LOGIN_RATELIMIT", "10/m")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{asctime} {levelname} {name} {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # INFO shows every rejected tracking request with its reason.
        "analytics.tracking": {"level": env_str("TRACKING_LOG_LEVEL", "WARNING")},
    },
}
