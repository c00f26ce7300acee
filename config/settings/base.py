"""Settings shared by every environment, read from the environment with django-environ."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

# No SECRET_KEY here (F6): production requires DJANGO_SECRET_KEY, local and test settings set their own development
# key. A settings module that forgets it fails at start instead of signing with a public key.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "telephony",
    "campaigns",
    "ninja",  # the API docs page's Swagger UI comes from its static files (no CDN: works offline)
    "api",
    "webhooks",
    "axes",  # login throttling (F24)
    "django_otp",  # TOTP for staff (F24), enforced by DJANGO_ADMIN_REQUIRE_OTP
    "django_otp.plugins.otp_totp",
    "compliance",
    "access",  # last: its post_migrate syncs the shipped groups once every permission exists
]  # `media` is a plain library (no models, no Django), used by the UA pool and the local agent

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "api.middleware.ApiMiddleware",  # /api/v1/ only: key, rate limit, transaction, Idempotency-Key, audit
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

# F24: login throttling (django-axes). After LOGIN_FAILURE_LIMIT failed logins for one username from one address,
# that pair is locked out for LOGIN_LOCKOUT_MINUTES; a success resets the count. The address is REMOTE_ADDR: behind a
# proxy, set AXES_IPWARE_PROXY_COUNT (docs/security.md) or every client shares the proxy's address.
AUTHENTICATION_BACKENDS = ["access.backends.ThrottlingBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # lockouts are lifted with `manage.py axes_reset_username` (or they expire)
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
# F24: with DJANGO_ADMIN_REQUIRE_OTP on, the admin asks every staff user for a TOTP code at login (django-otp);
# staff then need a confirmed TOTP device (added in the admin under "TOTP devices").
ADMIN_REQUIRE_OTP = env.bool("DJANGO_ADMIN_REQUIRE_OTP", default=False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Campaign engine")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/campaign_engine"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# A UA worker's transaction idle this long is ended by PostgreSQL, its row locks released (telephony/ua/db_sessions.py).
UA_DB_IDLE_IN_TRANSACTION_S = env.float("UA_DB_IDLE_IN_TRANSACTION_S", default=30.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

# F24: the admin holds contacts' data and trunk control, so passwords get Django's four standard checks.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The console's one date-time format (ISO order, 24 h, zone named): config/formats/en/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Uploaded files, imports and call recordings. Deliberately not the `media/` package folder.
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "files")))
MEDIA_URL = "/files/"
RECORDINGS_ROOT = Path(env("RECORDINGS_ROOT", default=str(BASE_DIR / "var" / "recordings")))
# Uploads over 2.5 MB stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760
# F15: uploads are cut off while they stream once past UPLOAD_MAX_BYTES (campaigns/uploads.py); each form has its own
# limit below it. A web server or proxy in front should cap the body too.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=250_000_000)
CONTACT_UPLOAD_MAX_BYTES = env.int("CONTACT_UPLOAD_MAX_BYTES", default=200_000_000)
DNC_UPLOAD_MAX_BYTES = env.int("DNC_UPLOAD_MAX_BYTES", default=50_000_000)
FILE_UPLOAD_HANDLERS = [
    "campaigns.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# F14: how long files are kept, in days (0: for ever). A beat task deletes older ones (campaigns/retention.py).
RETENTION_UPLOAD_DAYS = env.int("RETENTION_UPLOAD_DAYS", default=30)  # uploaded contact CSVs of finished imports
RETENTION_ERROR_REPORT_DAYS = env.int("RETENTION_ERROR_REPORT_DAYS", default=90)  # import error reports
RETENTION_RECORDING_DAYS = env.int("RETENTION_RECORDING_DAYS", default=90)  # call recordings

ADMIN_URL = env("DJANGO_ADMIN_URL", default="admin/")
# ISO 4217 currency a new trunk starts with; each trunk then bills in its own (telephony.Trunk.currency) and
# costs in two currencies are never added up.
COST_CURRENCY = env("COST_CURRENCY", default="USD")

# Celery: at-least-once delivery; tasks are idempotent by their rows, so ack late where that holds.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A task taken by a worker that died before acking it is delivered again after this long (Redis transport).
# It must exceed the longest task (the import's 3,600 s limit), or a slow import would run twice.
# Unacked tasks are looked for every CELERY_UNACKED_RESTORE_INTERVAL_S (kombu's default sweep is ~100 s). An
# originate lost this way is resolved long before by its lease and the reaper; the fault tests shorten both.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_S", default=3700),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL_S", default=10),
    "unacked_restore_throttle": 1,
}
# F10: bulk work (imports, report rollups, file retention, do-not-call uploads) has its own queue, so the dial path
# (originate, dispatch ticks, the reaper) never waits behind an hour-long import. Production runs one worker per
# queue (Procfile: `worker` -Q dial path, `bulk` -Q bulk); a worker started without -Q serves both (demo, tests).
CELERY_TASK_DEFAULT_QUEUE = "celery"
DIAL_QUEUE = "celery"
BULK_QUEUE = "bulk"
CELERY_TASK_QUEUES = {DIAL_QUEUE: {"routing_key": DIAL_QUEUE}, BULK_QUEUE: {"routing_key": BULK_QUEUE}}
CELERY_TASK_ROUTES = {name: {"queue": BULK_QUEUE} for name in (
    "campaigns.run_import", "campaigns.refresh_report_rollups", "campaigns.purge_expired_files",
    "campaigns.run_dnc_import", "campaigns.fail_stale_imports")}
# The dispatcher tick: how often it claims, and how many claims one tick may make (its duration grows with
# them, about 0.15-0.2 ms of CPU each), so the claim rate is at most DIALER_MAX_CLAIMS_PER_TICK / DIALER_TICK_S.
# A tick's dials go out together, and the calls-per-second buckets hold one tick's worth: a short tick
# spreads a trunk's calls over the second instead of sending them in one burst.
DIALER_TICK_S = env.float("DIALER_TICK_S", default=0.25)
DIALER_MAX_CLAIMS_PER_TICK = env.int("DIALER_MAX_CLAIMS_PER_TICK", default=500)
# One campaign takes at most this many of a tick's claims, so one large campaign cannot starve the others.
DIALER_MAX_CLAIMS_PER_CAMPAIGN = env.int("DIALER_MAX_CLAIMS_PER_CAMPAIGN", default=500)
# A lease (campaign, trunk, attempt) lives this long unless renewed; the UA renews every third of it.
DIALER_LEASE_TTL_S = env.int("DIALER_LEASE_TTL_S", default=30)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # The dispatcher: claims due contacts each tick (one tick at a time across hosts: advisory lock).
    "dispatch-tick": {"task": "campaigns.dispatch_tick", "schedule": DIALER_TICK_S,
                      "options": {"expires": DIALER_TICK_S}},
    # Parks due contacts outside their calling window until it opens (keeps the claim scan short).
    "park-contacts": {"task": "campaigns.park_contacts", "schedule": 10.0, "options": {"expires": 10.0}},
    # Resolves attempts whose lease expired; completes campaigns with nothing left.
    "reap-attempts": {"task": "campaigns.reap_attempts", "schedule": 10.0, "options": {"expires": 10.0}},
    # Keeps the campaign reports' rollups current, so no report aggregates a big campaign in the request.
    # Webhooks: sends due deliveries of the outbox (also kicked after each event commits).
    "webhooks-deliver": {"task": "webhooks.deliver_due", "schedule": 1.0, "options": {"expires": 1.0}},
    # The API's stored idempotent responses expire after 24 h.
    "api-purge-idempotency": {"task": "api.purge_idempotency", "schedule": 3600.0, "options": {"expires": 3600.0}},
    "refresh-report-rollups": {"task": "campaigns.refresh_report_rollups", "schedule": 60.0,
                               "options": {"expires": 60.0}},
    # Fails imports whose worker died (F19).
    "fail-stale-imports": {"task": "campaigns.fail_stale_imports", "schedule": 60.0, "options": {"expires": 60.0}},
    # Deletes files past their retention (F14).
    "purge-expired-files": {"task": "campaigns.purge_expired_files", "schedule": 3600.0,
                            "options": {"expires": 3600.0}},
    # The abandonment governor (FCC 3 % over 30 days): lowers concurrency from 2.5 %, pauses before 3 %.
    "govern-abandonment": {"task": "compliance.govern_abandonment", "schedule": 30.0, "options": {"expires": 30.0}},
}

# Webhooks (docs/api.md): URLs must be https and public. Development may allow http:// to loopback; a
# deployment whose receivers sit on an internal network may allow private addresses.
WEBHOOK_ALLOW_HTTP_LOOPBACK = env.bool("WEBHOOK_ALLOW_HTTP_LOOPBACK", default=False)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOK_RETRY_HORIZON_S = env.int("WEBHOOK_RETRY_HORIZON_S", default=26 * 3600)  # at least 24 h of retries

# Compliance: years the evidence of every dial is kept (TSR 16 CFR 310.5: five).
COMPLIANCE_RETENTION_YEARS = env.int("COMPLIANCE_RETENTION_YEARS", default=5)

# The SIP user-agent pool (`sip` process): N pjsua2 worker processes, each with up to 4 calls.
# Worker i listens on UA_SIP_PORT_BASE + 2i (UDP/TCP; TLS on the next port) and takes RTP ports from
# UA_RTP_PORT_BASE + UA_RTP_PORT_RANGE * i.
UA_POOL_PROCESSES = env.int("UA_POOL_PROCESSES", default=4)
UA_BIND_ADDRESS = env("UA_BIND_ADDRESS", default="127.0.0.1")
UA_ADVERTISE_HOST = env("UA_ADVERTISE_HOST", default="")
UA_SIP_PORT_BASE = env.int("UA_SIP_PORT_BASE", default=5070)
UA_RTP_PORT_BASE = env.int("UA_RTP_PORT_BASE", default=20000)
UA_RTP_PORT_RANGE = env.int("UA_RTP_PORT_RANGE", default=16)
UA_MAX_CALLS_PER_PROCESS = env.int("UA_MAX_CALLS_PER_PROCESS", default=4)  # the pjsua2 wheel's limit
# F27: SIP is accepted from the trunks' hosts (added as each is used), these networks (the carrier's signalling
# ranges, comma-separated IPs or CIDRs) and, when on, 127.0.0.1/::1; other INVITEs are refused 403.
UA_SIP_ALLOWED_SOURCES = env.list("UA_SIP_ALLOWED_SOURCES", default=[])
UA_SIP_ALLOW_LOOPBACK = env.bool("UA_SIP_ALLOW_LOOPBACK", default=True)
UA_MEDIA_TIMEOUT_S = env.float("UA_MEDIA_TIMEOUT_S", default=15.0)  # no RTP this long: the call failed
# After a bridged or warm transfer the UA transcribes the caller and the person who took the call itself
# (PocketSphinx, docs/transfer.md): off saves its CPU (docs/benchmarks.md), the call is still recorded.
UA_TRANSCRIBE_AFTER_HANDOVER = env.bool("UA_TRANSCRIBE_AFTER_HANDOVER", default=True)
UA_STOP_TIMEOUT_S = env.float("UA_STOP_TIMEOUT_S", default=15.0)  # SIGTERM: time to hang up and record
UA_CALL_HOOKS = env("UA_CALL_HOOKS", default="")  # "module:callable" building per-call media hooks
# Without UA_CALL_HOOKS, workers run telephony.conversation.controller:campaign_call (AMD, the AI bridge,
# voicemail, opt-out); off: none.
UA_MEDIA_BRIDGE = env.bool("UA_MEDIA_BRIDGE", default=True)
# Where calls of agents with provider "local" and no URL go (the Procfile's `agent` process).
LOCAL_AGENT_URL = env("LOCAL_AGENT_URL", default="ws://127.0.0.1:8765/v1")
# The local agent's shared bearer token: required by the agent when it listens off loopback, sent by the UA pool
# to provider "local" only (docs/security.md).
LOCAL_AGENT_TOKEN = env("LOCAL_AGENT_TOKEN", default="")
# AI endpoints an agent profile may use (media/endpoints.py, docs/security.md). The key variable a profile names
# is read by the UA workers and sent to the agent's host, so only these names are allowed.
AI_API_KEY_ENVS = env.list("AI_API_KEY_ENVS",
                           default=["OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AGENT_API_KEY"])
AI_OPENAI_HOSTS = env.list("AI_OPENAI_HOSTS", default=["api.openai.com"])
AI_GEMINI_HOSTS = env.list("AI_GEMINI_HOSTS", default=["generativelanguage.googleapis.com"])
AI_TWILIO_STREAM_HOSTS = env.list("AI_TWILIO_STREAM_HOSTS", default=[])  # empty: any host, over wss://
# Lets every provider use a loopback URL (test doubles, a local simulator): never in production.
AI_ALLOW_LOOPBACK_AGENTS = env.bool("AI_ALLOW_LOOPBACK_AGENTS", default=False)
# F13: the longest contact value sent to the AI or spoken (longer ones are cut); F20: the most agent audio queued
# for playback, and how long the AI may stay silent after the caller spoke, before the call ends as ai_error.
AI_PROMPT_VARIABLE_MAX_CHARS = env.int("AI_PROMPT_VARIABLE_MAX_CHARS", default=200)
AI_MAX_PLAYOUT_S = env.int("AI_MAX_PLAYOUT_S", default=30)
AI_SILENCE_TIMEOUT_S = env.float("AI_SILENCE_TIMEOUT_S", default=15.0)
# How long a UA worker's busy thread may keep the GIL while the media clock thread waits for it.
UA_GIL_SWITCH_INTERVAL_MS = env.float("UA_GIL_SWITCH_INTERVAL_MS", default=0.5)
UA_NICE = env.int("UA_NICE", default=0)  # < 0 puts the media clock ahead of other work (CAP_SYS_NICE)


def ua_command_key(secret_key: str) -> bytes:
    """The key of the HMAC that seals every command to the UA pool (telephony.contract), as UA_COMMAND_KEY.

    Only the control plane (web, worker, beat) and the UA pool hold it. Each settings module sets
    ``UA_COMMAND_KEY = ua_command_key(SECRET_KEY)`` after its own SECRET_KEY: the environment's UA_COMMAND_KEY
    when set, else derived from that SECRET_KEY, which the same processes hold.
    """
    return hashlib.sha256(("ua-command-key:" + (env("UA_COMMAND_KEY", default="") or secret_key)).encode()).digest()


def trunk_secret_keys(secret_key: str) -> list[str]:
    """The Fernet keys of trunk passwords at rest (telephony/secrets.py), as TRUNK_SECRET_KEYS, for local/test.

    The environment's TRUNK_SECRET_KEYS when set (comma separated; the first encrypts), else one key derived from
    that module's development SECRET_KEY. Production reads TRUNK_SECRET_KEYS only: no derived key there.
    """
    keys = env.list("TRUNK_SECRET_KEYS", default=[])
    if keys:
        return keys
    digest = hashlib.sha256(("trunk-secret-key:" + secret_key).encode()).digest()
    return [base64.urlsafe_b64encode(digest).decode()]

# Where the UA pool reports calls: the control plane's implementation of telephony.ua.ledger.Ledger.
UA_LEDGER = env("UA_LEDGER", default="campaigns.dialer.ledger:CampaignLedger")
# Each UA worker spools call events here before the ledger has them (survives a database outage and a restart).
UA_SPOOL_DIR = Path(env("UA_SPOOL_DIR", default=str(BASE_DIR / "var" / "ua-spool")))
# Timeouts of the UA workers' Redis client: a black-holed Redis must not block a heartbeat or a command read.
UA_REDIS_SOCKET_TIMEOUT_S = env.float("UA_REDIS_SOCKET_TIMEOUT_S", default=5.0)

# Contact import
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=5000)
IMPORT_MAX_FIELD_LENGTH = env.int("IMPORT_MAX_FIELD_LENGTH", default=1000)
CONTACT_MAX_VARIABLES = env.int("CONTACT_MAX_VARIABLES", default=50)  # F18: variables per contact

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
