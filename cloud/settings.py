"""Django settings of the Sightline cloud (web, gRPC ingest, MQTT bridge and Celery workers).

Every value comes from a ``SIGHTLINE_CLOUD_*`` environment variable read through `cloud.env`, so
a bad value fails at startup with ``ImproperlyConfigured``. Defaults suit a developer's machine;
values that only production can supply (the secret key, the database and broker URLs) have no
default unless ``SIGHTLINE_CLOUD_DEBUG=true``. Secrets also accept ``<NAME>_FILE``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from cloud.embeddings.spec import CROP_VECTOR_COLLECTION
from cloud.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_optional_bool,
    env_path,
    env_secret,
    env_str,
    parse_database_url,
)

# Lets type-annotated code subscript Django generics at run time (`admin.ModelAdmin[Device]`).
django_stubs_ext.monkeypatch()

DEBUG = env_bool("SIGHTLINE_CLOUD_DEBUG", default=False)

# Where development defaults keep their files (SQLite database, local objects, vector index).
# Nothing is created here: the local backends create their folders, and `python -m cloud check`
# reports a missing database folder.
DATA_DIR = env_path("SIGHTLINE_CLOUD_DATA_DIR", Path("~/.local/share/sightline/cloud"))


def _dev_default(value: str) -> str | None:
    """Offer `value` as a default only in debug mode, so production must set the variable."""
    return value if DEBUG else None


SECRET_KEY = env_secret(
    "SIGHTLINE_CLOUD_SECRET_KEY", default=_dev_default("insecure-development-key-" + "x" * 32)
)
ALLOWED_HOSTS = env_list(
    "SIGHTLINE_CLOUD_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else None
)
CSRF_TRUSTED_ORIGINS = env_list("SIGHTLINE_CLOUD_CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool(
    "SIGHTLINE_CLOUD_SECURE_COOKIES", default=not DEBUG
)
# Off by default because the ingress usually redirects and sets HSTS itself.
SECURE_SSL_REDIRECT = env_bool("SIGHTLINE_CLOUD_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SIGHTLINE_CLOUD_HSTS_SECONDS", default=0, minimum=0)
# Set when a TLS-terminating proxy (an ingress) sits in front and sets X-Forwarded-Proto.
if env_bool("SIGHTLINE_CLOUD_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "cloud.apps.CloudConfig",
    "cloud.fleet",
    "cloud.detections",
    "cloud.search",
    "cloud.ingest",
    "cloud.embeddings",
    "cloud.faces",
    "cloud.attributes",
    "cloud.labels",
    "cloud.learned",
    "cloud.datasets",
    "cloud.alerts",
    "cloud.deploy",
    "cloud.monitoring",
    "cloud.rollouts",
    "cloud.access",
    # Login rate limiting: counts failed logins per username and address (AXES_* below).
    "axes",
    # The JSON API's framework (cloud.api); listed for its OpenAPI docs page's templates.
    "ninja",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    # First, so that probes are answered before host validation and HTTPS redirects: kubelet
    # probes use the pod IP as Host, which ALLOWED_HOSTS rightly rejects.
    "cloud.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a login unless it is marked @login_not_required (login, admin login).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes checks every login against its failure counts before the password does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins allowed per username from one address, and how long a lockout lasts. Per pair,
# so that an attacker cannot lock a user out from everywhere by guessing their password
# (behind a proxy that hides client addresses, the pair is in effect the username).
AXES_FAILURE_LIMIT = env_int("SIGHTLINE_CLOUD_LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("SIGHTLINE_CLOUD_LOGIN_LOCKOUT_MINUTES", default=15, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "cloud.access.lockout.locked_out"
# The API's own login is a token, which axes does not see: it is rate limited per user there.
API_RATE = env_str("SIGHTLINE_CLOUD_API_RATE", default="30/s")
if not re.fullmatch(r"[1-9]\d*/(s|sec|m|min|h|hour|d|day)", API_RATE):
    raise ImproperlyConfigured(
        f"SIGHTLINE_CLOUD_API_RATE={API_RATE!r}: write calls per period, e.g. 30/s or 600/m"
    )

ROOT_URLCONF = "cloud.urls"
WSGI_APPLICATION = "cloud.wsgi.application"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "search:detections"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cloud.access.context.access",
            ],
        },
    },
]

DATABASES = {
    "default": {
        **parse_database_url(
            env_secret(
                "SIGHTLINE_CLOUD_DATABASE_URL",
                default=_dev_default(f"sqlite:///{DATA_DIR / 'cloud.sqlite3'}"),
            )
        ),
        # Seconds a connection is reused. Not 0 (a connection per request): the ingest server
        # serves a stream per batch of crops, and connecting cost more than storing the batch;
        # its threads and the workers are long-lived, so their connections stay few.
        "CONN_MAX_AGE": env_int("SIGHTLINE_CLOUD_DATABASE_CONN_MAX_AGE", default=60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("SIGHTLINE_CLOUD_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("SIGHTLINE_CLOUD_STATIC_ROOT", DATA_DIR / "static")

# Object store: where crop JPEGs and model files live (cloud.lib.objectstore settings).
OBJECT_STORE: dict[str, Any]
if env_choice("SIGHTLINE_CLOUD_OBJECT_STORE", ("local", "s3"), default="local") == "s3":
    OBJECT_STORE = {
        "type": "s3",
        "endpoint": env_str("SIGHTLINE_CLOUD_S3_ENDPOINT"),
        "bucket": env_str("SIGHTLINE_CLOUD_S3_BUCKET"),
        "access_key": env_secret("SIGHTLINE_CLOUD_S3_ACCESS_KEY"),
        "secret_key": env_secret("SIGHTLINE_CLOUD_S3_SECRET_KEY"),
        "secure": env_bool("SIGHTLINE_CLOUD_S3_SECURE", default=True),
        "region": env_str("SIGHTLINE_CLOUD_S3_REGION", default="us-east-1"),
        "max_connections": env_int("SIGHTLINE_CLOUD_S3_MAX_CONNECTIONS", default=32, minimum=1),
    }
else:
    # Signs the local store's presigned crop URLs, which browsers hold. Its own key, so that a
    # leaked URL key cannot sign sessions; unset, one is derived from SECRET_KEY one way (an
    # HMAC under a salt of its own), stable across restarts and replicas.
    _url_signing_key = env_secret(
        "SIGHTLINE_CLOUD_OBJECT_STORE_URL_SIGNING_KEY",
        default=salted_hmac(
            "sightline.cloud.objects.url-signing-key",
            "local",
            secret=SECRET_KEY,
            algorithm="sha256",
        ).hexdigest(),
    )
    if _url_signing_key == SECRET_KEY:
        raise ImproperlyConfigured(
            "SIGHTLINE_CLOUD_OBJECT_STORE_URL_SIGNING_KEY must differ from the secret key "
            "(leave it unset to derive one)"
        )
    OBJECT_STORE = {
        "type": "local",
        "root": env_path("SIGHTLINE_CLOUD_OBJECT_STORE_ROOT", DATA_DIR / "objects"),
        "url_signing_key": _url_signing_key,
    }

# Vector store: crop embeddings for similar search (cloud.lib.vectorstore settings).
VECTOR_STORE: dict[str, Any]
if env_choice("SIGHTLINE_CLOUD_VECTOR_STORE", ("embedded", "weaviate"), default="embedded") == (
    "weaviate"
):
    VECTOR_STORE = {
        "type": "weaviate",
        "url": env_str("SIGHTLINE_CLOUD_WEAVIATE_URL"),
        "grpc_port": env_int("SIGHTLINE_CLOUD_WEAVIATE_GRPC_PORT", default=50051, minimum=1),
        "api_key": env_secret("SIGHTLINE_CLOUD_WEAVIATE_API_KEY", default=""),
    }
else:
    VECTOR_STORE = {
        "type": "embedded",
        "path": env_path("SIGHTLINE_CLOUD_VECTOR_STORE_PATH", DATA_DIR / "vectors.sqlite3"),
    }
# Vectors of two embeddings do not mix: the default collection is the one of this release's
# crop vectors (`cloud.embeddings.spec.CROP_VECTOR_COLLECTION`); a deployment or a test may name
# its own.
VECTOR_STORE["collection"] = env_str(
    "SIGHTLINE_CLOUD_VECTOR_STORE_COLLECTION", default=CROP_VECTOR_COLLECTION
)
# The index's accuracy against speed, for either backend; unset keeps the backend's measured
# defaults (cloud.lib.vectorstore: embedded `ef_search`, Weaviate `ef`; both
# `flat_search_cutoff`, the filtered searches answered exactly).
if _ef := env_int("SIGHTLINE_CLOUD_VECTOR_STORE_EF", default=0, minimum=0):
    VECTOR_STORE["ef" if VECTOR_STORE["type"] == "weaviate" else "ef_search"] = _ef
if _cutoff := env_int("SIGHTLINE_CLOUD_VECTOR_STORE_FLAT_SEARCH_CUTOFF", default=0, minimum=0):
    VECTOR_STORE["flat_search_cutoff"] = _cutoff

# gRPC crop ingest (`python -m cloud ingest_grpc`; cloud.ingest.server.IngestServerSettings).
# The largest crop (width x height, as its JPEG header declares) the embed workers decode; the
# ingest refuses larger ones at upload, so every stored crop is one the workers decode.
_MAX_CROP_PIXELS = env_int(
    "SIGHTLINE_CLOUD_EMBEDDER_MAX_CROP_PIXELS", default=4096 * 4096, minimum=1
)

# The default message limit matches the edge uplink's, so the edge drops an oversized crop
# itself instead of failing a whole stream with RESOURCE_EXHAUSTED.
INGEST_GRPC: dict[str, Any] = {
    "address": env_str("SIGHTLINE_CLOUD_INGEST_ADDRESS", default="[::]:50051"),
    "max_message_bytes": env_int(
        "SIGHTLINE_CLOUD_INGEST_MAX_MESSAGE_BYTES", default=4 * 1024**2, minimum=1024
    ),
    "max_streams": env_int("SIGHTLINE_CLOUD_INGEST_MAX_STREAMS", default=16, minimum=1),
    "max_crop_pixels": _MAX_CROP_PIXELS,
    "grace_s": env_int("SIGHTLINE_CLOUD_INGEST_GRACE_S", default=10, minimum=0),
    "share_port": env_bool("SIGHTLINE_CLOUD_INGEST_SHARE_PORT", default=False),
    # TLS unless the address is loopback or SIGHTLINE_CLOUD_INGEST_PLAINTEXT says a proxy in
    # front terminates it; a client CA adds device certificates (mTLS).
    "tls_cert_file": env_str("SIGHTLINE_CLOUD_INGEST_TLS_CERT_FILE", default="") or None,
    "tls_key_file": env_str("SIGHTLINE_CLOUD_INGEST_TLS_KEY_FILE", default="") or None,
    "tls_client_ca_file": env_str("SIGHTLINE_CLOUD_INGEST_TLS_CLIENT_CA_FILE", default="") or None,
    "plaintext": env_bool("SIGHTLINE_CLOUD_INGEST_PLAINTEXT", default=False),
}

# MQTT bridge (`python -m cloud mqtt_bridge`; cloud.ingest.bridge.MqttBridgeSettings). Only the
# bridge needs a broker, so a missing host fails when the bridge starts, not in every process.
MQTT_BRIDGE: dict[str, Any] = {
    "host": env_str("SIGHTLINE_CLOUD_MQTT_HOST", default=""),
    # Unset: 8883 with TLS, else 1883 (sightline.tls.MqttEndpoint).
    "port": env_int("SIGHTLINE_CLOUD_MQTT_PORT", default=0, minimum=0) or None,
    "username": env_str("SIGHTLINE_CLOUD_MQTT_USERNAME", default=""),
    "password": env_secret("SIGHTLINE_CLOUD_MQTT_PASSWORD", default=""),
    "topic_prefix": env_str("SIGHTLINE_CLOUD_MQTT_TOPIC_PREFIX", default="sightline"),
    "client_id": env_str("SIGHTLINE_CLOUD_MQTT_CLIENT_ID", default=""),
    "sites": env_list("SIGHTLINE_CLOUD_MQTT_SITES", default=[]),
    "protocol": env_choice(
        "SIGHTLINE_CLOUD_MQTT_PROTOCOL", ("mqttv5", "mqttv311"), default="mqttv5"
    ),
    # Unset: TLS unless the broker is on loopback (sightline.tls).
    "tls": env_optional_bool("SIGHTLINE_CLOUD_MQTT_TLS"),
    "ca_file": env_str("SIGHTLINE_CLOUD_MQTT_CA_FILE", default="") or None,
    # A client certificate, for a broker listener that requires one (mutual TLS).
    "cert_file": env_str("SIGHTLINE_CLOUD_MQTT_CERT_FILE", default="") or None,
    "key_file": env_str("SIGHTLINE_CLOUD_MQTT_KEY_FILE", default="") or None,
}

# Model deployment (cloud.deploy): how long a device's download URL of a model stays valid
# (S3 allows at most 7 days; the bridge publishes fresh URLs when a device comes back online
# after they expired), and the address devices reach the web app at, for the local object
# store, whose signed URLs the web app serves.
DEPLOY: dict[str, Any] = {
    "url_lifetime_s": env_int(
        "SIGHTLINE_CLOUD_MODEL_URL_LIFETIME_S", default=24 * 3600, minimum=60
    ),
    "public_url": env_str("SIGHTLINE_CLOUD_PUBLIC_URL", default=""),
}

# Dataset exports from the web app (cloud.datasets.config.DatasetExportSettings): the zip is
# built in a temporary file and stored whole, so it may not pass the object store's own
# max_object_bytes (64 MiB unless configured). `python -m cloud export_dataset` has no bound.
DATASET_EXPORT: dict[str, Any] = {
    "max_bytes": env_int(
        "SIGHTLINE_CLOUD_DATASET_MAX_BYTES", default=64 * 1024 * 1024, minimum=1024 * 1024
    ),
    "url_lifetime_s": env_int("SIGHTLINE_CLOUD_DATASET_URL_LIFETIME_S", default=3600, minimum=60),
}

# Alerts (cloud.alerts.notifications.AlertSettings): links in notifications point at the public
# address of the web app (the one devices use for model downloads); webhook retries; how long
# an event may wait for the broker (the bridge publishes alerts).
ALERTS: dict[str, Any] = {
    "public_url": DEPLOY["public_url"],
    "webhook_timeout_s": env_int("SIGHTLINE_CLOUD_ALERT_WEBHOOK_TIMEOUT_S", default=5, minimum=1),
    "webhook_attempts": env_int("SIGHTLINE_CLOUD_ALERT_WEBHOOK_ATTEMPTS", default=8, minimum=1),
    "mqtt_expiry_s": env_int("SIGHTLINE_CLOUD_ALERT_MQTT_EXPIRY_S", default=3600, minimum=1),
}

# Broker accounts (`python -m cloud mqtt_account`; cloud.fleet.broker.BrokerAdminSettings): the
# same broker, logged in as a dynamic-security admin. Only that command needs it, so a missing
# admin login fails there, not in every process.
MQTT_ACCOUNTS: dict[str, Any] = {
    "host": MQTT_BRIDGE["host"],
    "port": MQTT_BRIDGE["port"],
    "username": env_str("SIGHTLINE_CLOUD_MQTT_ADMIN_USERNAME", default=""),
    "password": env_secret("SIGHTLINE_CLOUD_MQTT_ADMIN_PASSWORD", default=""),
    "topic_prefix": MQTT_BRIDGE["topic_prefix"],
    "tls": MQTT_BRIDGE["tls"],
    "ca_file": MQTT_BRIDGE["ca_file"],
    "cert_file": MQTT_BRIDGE["cert_file"],
    "key_file": MQTT_BRIDGE["key_file"],
}

# Crop embedder of the `embed` workers (cloud.embeddings.embedder.EmbedderSettings). Without a
# model path the built model is found in SIGHTLINE_CACHE_DIR (`python -m models build`).
EMBEDDER: dict[str, Any] = {
    "model_path": env_str("SIGHTLINE_CLOUD_EMBEDDER_MODEL_PATH", default="") or None,
    "threads": env_int("SIGHTLINE_CLOUD_EMBEDDER_THREADS", default=1, minimum=1),
    "batch_size": env_int("SIGHTLINE_CLOUD_EMBEDDER_BATCH_SIZE", default=32, minimum=1),
    # A crop's JPEG header may declare any size; the decoder would allocate all of it.
    "max_crop_pixels": _MAX_CROP_PIXELS,
}

# What else the embed workers compute from each decoded crop (cloud.embeddings.analysers.ANALYSERS
# names, run in this order); `none`: the appearance vector only (an empty variable means the
# default). `colours`: named colours per body part, about 4 ms a crop on one core, which text
# search ranks by; `faces`: the face in each person crop (YuNet + SFace, tens of ms per person
# crop on one core) for face search; `image_text`: the image-text plug-in (IMAGE_TEXT below).
_crop_analysers = env_list("SIGHTLINE_CLOUD_CROP_ANALYSERS", default=["colours", "faces"])
CROP_ANALYSERS: list[str] = [] if _crop_analysers == ["none"] else _crop_analysers

# How faces are found in person crops and uploads (cloud.faces.recognizer.FaceSettings; its
# YuNet score threshold keeps the default measured there).
FACES: dict[str, Any] = {
    "min_face_px": env_int("SIGHTLINE_CLOUD_FACES_MIN_FACE_PX", default=24, minimum=8),
    "max_side_px": env_int("SIGHTLINE_CLOUD_FACES_MAX_SIDE_PX", default=1280, minimum=112),
}

# Search by an uploaded image (cloud.search.example.ExampleSearchSettings): the web process
# detects and embeds uploads itself, loading the detector, crop and face models on first use.
EXAMPLE_SEARCH: dict[str, Any] = {
    "max_upload_bytes": env_int(
        "SIGHTLINE_CLOUD_EXAMPLE_MAX_UPLOAD_BYTES", default=10_000_000, minimum=1
    ),
    # A decoder allocates the whole declared image: the same bound as the workers' crops.
    "max_pixels": _MAX_CROP_PIXELS,
    "uploads_per_minute": env_int(
        "SIGHTLINE_CLOUD_EXAMPLE_UPLOADS_PER_MINUTE", default=12, minimum=1
    ),
}

# The image-text (CLIP-style) plug-in (cloud.imagetext.config.ImageTextSettings): None unless
# an operator names an image encoder. Each file needs its sha256; the input spec defaults to
# OpenAI CLIP's (224x224, RGB, CLIP mean/std), and only the variables that are set override it.
# The embed workers also need "image_text" in SIGHTLINE_CLOUD_CROP_ANALYSERS.
_IMAGE_TEXT_PREFIX = "SIGHTLINE_CLOUD_IMAGE_TEXT_"
IMAGE_TEXT: dict[str, Any] | None = None
if env_str(f"{_IMAGE_TEXT_PREFIX}IMAGE_ENCODER", default=""):
    IMAGE_TEXT = {
        name: {
            "path": env_str(f"{_IMAGE_TEXT_PREFIX}{name.upper()}"),
            "sha256": env_str(f"{_IMAGE_TEXT_PREFIX}{name.upper()}_SHA256"),
        }
        for name in ("image_encoder", "text_encoder", "tokenizer")
    }
    IMAGE_TEXT["dimension"] = env_int(f"{_IMAGE_TEXT_PREFIX}DIMENSION", minimum=1)
    for _name in ("width", "height", "max_tokens"):
        if env_str(f"{_IMAGE_TEXT_PREFIX}{_name.upper()}", default=""):
            IMAGE_TEXT[_name] = env_int(f"{_IMAGE_TEXT_PREFIX}{_name.upper()}", minimum=1)
    for _name in ("mean", "std"):
        if env_str(f"{_IMAGE_TEXT_PREFIX}{_name.upper()}", default=""):
            IMAGE_TEXT[_name] = env_list(f"{_IMAGE_TEXT_PREFIX}{_name.upper()}")
    if env_str(f"{_IMAGE_TEXT_PREFIX}COLOUR_ORDER", default=""):
        IMAGE_TEXT["colour_order"] = env_choice(f"{_IMAGE_TEXT_PREFIX}COLOUR_ORDER", ("RGB", "BGR"))

# Crops without a vector: how many runs one gets, and the sweep that queues lost ones again
# (cloud.embeddings.recovery.EmbedRecoverySettings; the sweep runs under `celery -A cloud beat`).
EMBED_RECOVERY: dict[str, Any] = {
    "max_attempts": env_int("SIGHTLINE_CLOUD_EMBED_MAX_ATTEMPTS", default=3, minimum=1),
    "sweep_interval_s": env_int("SIGHTLINE_CLOUD_EMBED_SWEEP_INTERVAL_S", default=60, minimum=1),
    "sweep_grace_s": env_int("SIGHTLINE_CLOUD_EMBED_SWEEP_GRACE_S", default=120, minimum=1),
    "sweep_max_per_run": env_int(
        "SIGHTLINE_CLOUD_EMBED_SWEEP_MAX_PER_RUN", default=1024, minimum=1
    ),
    "sweep_batch_size": env_int("SIGHTLINE_CLOUD_EMBED_SWEEP_BATCH_SIZE", default=32, minimum=1),
}

# Crop objects without a row (a crash between the object write and the row's commit), deleted
# by a sweep (cloud.detections.orphans.OrphanSweepSettings) under `celery -A cloud beat`.
ORPHAN_SWEEP: dict[str, Any] = {
    "interval_s": env_int("SIGHTLINE_CLOUD_ORPHAN_SWEEP_INTERVAL_S", default=3600, minimum=1),
    "grace_s": env_int("SIGHTLINE_CLOUD_ORPHAN_SWEEP_GRACE_S", default=900, minimum=60),
    "days": env_int("SIGHTLINE_CLOUD_ORPHAN_SWEEP_DAYS", default=3, minimum=1),
}

# Device health over time (cloud.monitoring.config.MonitoringSettings): heartbeat history and
# its roll-ups, and the alert pass, both run under `celery -A cloud beat`.
MONITORING: dict[str, Any] = {
    "heartbeat_s": env_int("SIGHTLINE_CLOUD_MONITORING_HEARTBEAT_S", default=10, minimum=1),
    "alert_window_s": env_int("SIGHTLINE_CLOUD_MONITORING_ALERT_WINDOW_S", default=120, minimum=10),
    "alert_interval_s": env_int(
        "SIGHTLINE_CLOUD_MONITORING_ALERT_INTERVAL_S", default=15, minimum=1
    ),
    "raw_retention_h": env_int("SIGHTLINE_CLOUD_MONITORING_RAW_RETENTION_H", default=24, minimum=1),
    "rollup_s": env_int("SIGHTLINE_CLOUD_MONITORING_ROLLUP_S", default=300, minimum=60),
    "rollup_retention_days": env_int(
        "SIGHTLINE_CLOUD_MONITORING_ROLLUP_RETENTION_DAYS", default=30, minimum=1
    ),
    "rollup_interval_s": env_int(
        "SIGHTLINE_CLOUD_MONITORING_ROLLUP_INTERVAL_S", default=300, minimum=10
    ),
}

# Celery (cloud.celery reads every CELERY_* name below). Tasks take ids and primitives and are
# idempotent, which is what makes late acks (redelivery after a worker crash) safe.
CELERY_BROKER_URL = env_secret(
    "SIGHTLINE_CLOUD_CELERY_BROKER_URL",
    # The in-memory transport only reaches workers in the same process (tests, demos).
    default=_dev_default("memory://"),
)
CELERY_RESULT_BACKEND = env_secret(
    "SIGHTLINE_CLOUD_CELERY_RESULT_BACKEND",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "cache+memory://",
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Embedding is CPU-heavy and batched, so it gets its own queue and its own worker pool. The
# sweeps, the monitoring passes and the rollout gate (a few queries each) run on the same
# workers: they are the ones every deployment runs.
CELERY_TASK_ROUTES = {
    "cloud.embeddings.tasks.*": {"queue": "embed"},
    "cloud.detections.tasks.*": {"queue": "embed"},
    "cloud.monitoring.tasks.*": {"queue": "embed"},
    "cloud.rollouts.tasks.*": {"queue": "embed"},
    # A label's suggestions refresh: vector-store queries, on the workers that embed.
    "cloud.labels.tasks.*": {"queue": "embed"},
    # Dataset exports read crops from the object store and write one zip, minutes at most.
    "cloud.datasets.tasks.*": {"queue": "embed"},
    # A webhook POST waits at most its timeout (5 s by default); retries wait unacknowledged.
    "cloud.alerts.tasks.*": {"queue": "embed"},
    # Training a label's classifier takes seconds; its backfill runs in time-bounded slices.
    "cloud.learned.tasks.*": {"queue": "embed"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("SIGHTLINE_CLOUD_CELERY_TASK_TIME_LIMIT", default=300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "SIGHTLINE_CLOUD_CELERY_TASK_SOFT_TIME_LIMIT", default=240, minimum=1
)
# Redis redelivers an unacked task after the visibility timeout: that is how the task of a
# worker that died (killed, out of memory) runs again, so it is just above the hard time limit
# rather than kombu's hour. A task running longer than it would run twice at once, hence the
# check below. (The solo pool enforces no time limit; the task's own timeouts bound it.)
_visibility_timeout = env_int(
    "SIGHTLINE_CLOUD_CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 30, minimum=1
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _visibility_timeout,
    # Each worker scans for such tasks every interval x throttle seconds (kombu's default is
    # 10 x 10); a scan is one sorted-set range query.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    # Lets deployments (or test runs) share one Redis without seeing each other's queues.
    "global_keyprefix": env_str("SIGHTLINE_CLOUD_CELERY_KEY_PREFIX", default=""),
}
# A broker without a server for the zero-setup demo: kombu's filesystem transport, a spool
# directory that the web, ingest and worker processes share (it must exist).
if CELERY_BROKER_URL.startswith("filesystem://"):
    _celery_spool = str(env_path("SIGHTLINE_CLOUD_CELERY_FILESYSTEM_DIR", DATA_DIR / "celery"))
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": _celery_spool,
        "data_folder_out": _celery_spool,
        # Exchange tables; kombu's default is ./control in the working directory.
        "control_folder": str(Path(_celery_spool) / "control"),
    }
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < _visibility_timeout:
    raise ImproperlyConfigured(
        "need SIGHTLINE_CLOUD_CELERY_TASK_SOFT_TIME_LIMIT < SIGHTLINE_CLOUD_CELERY_TASK_TIME_LIMIT"
        " < SIGHTLINE_CLOUD_CELERY_VISIBILITY_TIMEOUT"
    )
# How often the rollout gate judges every running rollout (cloud.rollouts.tasks). A stage's soak
# time is measured from the first tick the gate held, so it may run up to this much longer.
ROLLOUT_TICK_S = env_int("SIGHTLINE_CLOUD_ROLLOUT_TICK_S", default=10, minimum=1)
# `celery -A cloud beat` queues the sweeps. One that waited a whole interval in a busy queue
# expires unrun: the next one is already on its way.
CELERY_BEAT_SCHEDULE = {
    "sweep-unembedded": {
        "task": "cloud.embeddings.tasks.sweep_unembedded",
        "schedule": EMBED_RECOVERY["sweep_interval_s"],
        "options": {"expires": EMBED_RECOVERY["sweep_interval_s"]},
    },
    "sweep-orphan-crops": {
        "task": "cloud.detections.tasks.sweep_orphan_crops",
        "schedule": ORPHAN_SWEEP["interval_s"],
        "options": {"expires": ORPHAN_SWEEP["interval_s"]},
    },
    "monitoring-alerts": {
        "task": "cloud.monitoring.tasks.evaluate_alerts",
        "schedule": MONITORING["alert_interval_s"],
        "options": {"expires": MONITORING["alert_interval_s"]},
    },
    "monitoring-rollup": {
        "task": "cloud.monitoring.tasks.roll_up_samples",
        "schedule": MONITORING["rollup_interval_s"],
        "options": {"expires": MONITORING["rollup_interval_s"]},
    },
    "advance-rollouts": {
        "task": "cloud.rollouts.tasks.advance_rollouts",
        "schedule": ROLLOUT_TICK_S,
        "options": {"expires": ROLLOUT_TICK_S},
    },
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Django's LOGGING below configures the worker's handlers too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOG_FORMAT = env_choice("SIGHTLINE_CLOUD_LOG_FORMAT", ("text", "json"), default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        # python-json-logger adds `extra` fields (device_id, camera_id, task_id) as keys.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {
        "handlers": ["console"],
        "level": env_choice(
            "SIGHTLINE_CLOUD_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO"
        ),
    },
}
