"""Settings, read from environment variables, with defaults that are safe on a laptop.

Every value a deployment may change comes from the environment so that the same code runs the
embedded demo (SQLite, in-process Redis substitute, sandbox payments) and production
(PostgreSQL, Redis, Stripe, SMTP) without edits.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask_appbuilder.const import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))

# The development key that earlier versions used whenever SECRET_KEY was unset. It is published in
# this file, so anybody could sign a session or a token with it: it is refused everywhere now.
DEV_SECRET_KEY = "dev-only-not-secret-portail-familles"
# Where a laptop install keeps the key generated at its first start (see ensure_secret_key).
SECRET_KEY_FILE_NAME = "secret_key"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    APP_ENV = os.environ.get("APP_ENV", "development")
    # Unset: a random key generated once into instance/secret_key (never in production).
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    PORT = _int("PORT", 5000)
    APP_NAME = "Portail Familles"
    PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{_int('PORT', 5000)}")

    # Database: SQLite file under instance/ unless DATABASE_URL says otherwise.
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portail.db'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Seconds a request waits for a capacity lock before answering "try again".
    LOCK_TIMEOUT_SECONDS = float(os.environ.get("LOCK_TIMEOUT_SECONDS", "5"))

    # Redis: unset means the embedded substitute (fakeredis) with an in-process worker.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "portail")
    EMBEDDED_WORKER = _bool("EMBEDDED_WORKER", True)

    # Booking
    BASKET_HOLD_MINUTES = float(os.environ.get("BASKET_HOLD_MINUTES", "60"))
    SWEEP_INTERVAL_SECONDS = _int("SWEEP_INTERVAL_SECONDS", 60)
    # Admission gate (app/services/booking/admission.py): a week found full is refused from Redis
    # until a place comes back, for at most MARK_SECONDS (the locked check stays the only way in).
    ADMISSION_GATE = _bool("ADMISSION_GATE", True)
    ADMISSION_MARK_SECONDS = float(os.environ.get("ADMISSION_MARK_SECONDS", "30"))
    # Waiting room of a first-come opening (app/services/booking/waiting_room.py): off, on, or auto
    # (from LEAD minutes before a period's registration opening to SPAN minutes after it). Parents
    # are let in at RATE per second in arrival order, BURST at once after a quiet spell (default:
    # RATE), and are not queued again for ADMITTED_MINUTES.
    WAITING_ROOM = os.environ.get("WAITING_ROOM", "off")
    WAITING_ROOM_RATE = float(os.environ.get("WAITING_ROOM_RATE", "20"))
    WAITING_ROOM_BURST = float(os.environ.get("WAITING_ROOM_BURST", "0")) or None
    WAITING_ROOM_ADMITTED_MINUTES = float(os.environ.get("WAITING_ROOM_ADMITTED_MINUTES", "20"))
    WAITING_ROOM_LEAD_MINUTES = float(os.environ.get("WAITING_ROOM_LEAD_MINUTES", "5"))
    WAITING_ROOM_SPAN_MINUTES = float(os.environ.get("WAITING_ROOM_SPAN_MINUTES", "30"))

    # Payments: Stripe when a secret key is set, else the sandbox (refused in production).
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER") or (
        "stripe" if os.environ.get("STRIPE_SECRET_KEY") else "sandbox"
    )
    # PayFiP (PAYMENT_PROVIDER=payfip): the régie's 6-digit client number from the DGFiP, and the
    # mode agreed with it: test, activation (real payments of the acceptance run), production.
    # The notification and return URLs are built from PUBLIC_URL (/payments/payfip/…).
    PAYFIP_NUMCLI = os.environ.get("PAYFIP_NUMCLI") or None
    PAYFIP_MODE = os.environ.get("PAYFIP_MODE", "test")
    PAYFIP_TIMEOUT_SECONDS = float(os.environ.get("PAYFIP_TIMEOUT_SECONDS", "15"))

    # Mail: SMTP when MAIL_SERVER is set, else the console and the mail log.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Pôle Jeunesse <noreply@portail-familles.test>")
    STAFF_DIGEST_EMAIL = os.environ.get("STAFF_DIGEST_EMAIL", "pole-jeunesse@portail-familles.test")
    # How families reach the Pôle Jeunesse: shown in the parent footer, on error pages and under every mail.
    POLE_PHONE = os.environ.get("POLE_PHONE", "04 94 00 00 00")
    POLE_EMAIL = os.environ.get("POLE_EMAIL", "pole-jeunesse@portail-familles.test")
    POLE_HOURS = os.environ.get("POLE_HOURS", "du lundi au vendredi, de 8 h 30 à 12 h et de 13 h 30 à 17 h")

    # Uploaded documents live outside the web root.
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    MAX_CONTENT_LENGTH = 6 * 1024 * 1024  # requests; documents themselves are capped at 5 MB

    # Flask-AppBuilder
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = True
    AUTH_USER_REGISTRATION_ROLE = "Parent"
    RECAPTCHA_ENABLED = False
    FAB_CREATE_DB = False  # Alembic owns the schema.
    FAB_UPDATE_PERMS = False  # permissions are synced by `flask sync-roles`.
    # The JWT login (POST /api/v1/security/login) is always there; the security CRUD APIs are not wanted.
    FAB_ADD_SECURITY_API = False
    FAB_API_SWAGGER_UI = True  # /api/v1/_openapi
    FAB_API_MAX_PAGE_SIZE = 100
    FAB_BASE_TEMPLATE = "staff/base.html"
    FAB_PASSWORD_HASH_METHOD = os.environ.get("FAB_PASSWORD_HASH_METHOD", "scrypt")
    JWT_ACCESS_TOKEN_EXPIRES = 3600

    # Login throttling fit for a crowd (app/services/login_throttle.py): failures are counted per
    # account, successes never; one address (a school's or a carrier's NAT) gets a generous ceiling.
    # Counters are shared through Redis (RATELIMIT_STORAGE_URI, else REDIS_URL), in memory otherwise.
    AUTH_RATE_LIMITED = False  # FAB's own limiter counted every login per address: replaced.
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    AUTH_RATE_LIMIT = os.environ.get("AUTH_RATE_LIMIT", "5 per 15 minutes")  # failures, one account × address
    LOGIN_ACCOUNT_LIMIT = os.environ.get("LOGIN_ACCOUNT_LIMIT", "20 per hour")  # failures, one account
    LOGIN_ADDRESS_LIMIT = os.environ.get("LOGIN_ADDRESS_LIMIT", "300 per minute")  # failures, one address
    MAIL_FORM_ADDRESS_LIMIT = os.environ.get("MAIL_FORM_ADDRESS_LIMIT", "120 per minute")  # sign-up + reset
    MAIL_TARGET_LIMIT = os.environ.get("MAIL_TARGET_LIMIT", "3 per hour")  # mails asked for one e-mail
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or "memory://"
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
    TRUSTED_PROXY_HOPS = _int("TRUSTED_PROXY_HOPS", 0)

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("APP_ENV", "development") == "production"

    # French everywhere
    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = "Europe/Paris"
    BABEL_DEFAULT_FOLDER = "translations"
    LANGUAGES = {"fr": {"flag": "fr", "name": "Français"}}
    DISPLAY_TIMEZONE = "Europe/Paris"

    VERSION = "0.1.0"


class ConfigError(RuntimeError):
    """Raised at start-up when the settings are unsafe for the chosen environment."""


def check_production(config: dict) -> None:
    """Refuse to run production with laptop defaults: a known secret or fake payments."""
    if config.get("APP_ENV") != "production":
        return
    key = config.get("SECRET_KEY") or ""
    if key == DEV_SECRET_KEY or len(key) < 32:
        raise ConfigError("APP_ENV=production requires a SECRET_KEY of at least 32 random characters.")
    if config.get("PAYMENT_PROVIDER") == "sandbox":
        raise ConfigError("APP_ENV=production refuses the sandbox payment provider: set STRIPE_SECRET_KEY.")
    if config.get("PAYMENT_PROVIDER") == "stripe" and not config.get("STRIPE_WEBHOOK_SECRET"):
        raise ConfigError("APP_ENV=production with Stripe requires STRIPE_WEBHOOK_SECRET.")
    if config.get("PAYMENT_PROVIDER") == "payfip":
        numcli = str(config.get("PAYFIP_NUMCLI") or "")
        if not (numcli.isdigit() and len(numcli) == 6):
            raise ConfigError("APP_ENV=production with PayFiP requires PAYFIP_NUMCLI (6 digits).")
        if config.get("PAYFIP_MODE") not in ("activation", "production"):
            raise ConfigError("APP_ENV=production with PayFiP requires PAYFIP_MODE=activation or production.")


# One random key per test process: tests never need a key that survives them, nor a published one.
_TEST_SECRET_KEY = secrets.token_urlsafe(48)


def ensure_secret_key(config: dict) -> None:
    """Give the app a secret nobody else knows, without asking a laptop user to configure one.

    The key signs sessions, JWTs, password-reset links and sandbox payment pages: a default written
    in this file would let anyone forge them. So an unset key becomes a random one generated at the
    first start into `instance/secret_key` (mode 0600) and read back at every later start, so that
    sessions survive a restart and every worker process of one install shares it. Production never
    gets here without its own key: check_production refuses a missing or weak one first, so a
    deployment cannot silently depend on a file that a redeploy might lose.
    """
    key = config.get("SECRET_KEY")
    if key == DEV_SECRET_KEY:
        raise ConfigError("SECRET_KEY is the development key published in config.py: unset it (a random key "
                          "is then generated into instance/) or set a key of your own.")
    if key:
        return
    if config.get("APP_ENV") == "production":
        raise ConfigError("APP_ENV=production requires a SECRET_KEY of at least 32 random characters.")
    if config.get("TESTING"):
        config["SECRET_KEY"] = _TEST_SECRET_KEY
        return
    folder = Path(config.get("INSTANCE_DIR") or INSTANCE_DIR)
    config["SECRET_KEY"] = _instance_secret_key(folder / SECRET_KEY_FILE_NAME)


def _instance_secret_key(path: Path) -> str:
    """Read the install's key, creating it first if needed. Several processes starting at once (e.g.
    gunicorn workers) end up with the same key: the file is published with an atomic link, and a
    process that loses the race reads the winner's key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, (secrets.token_urlsafe(48) + "\n").encode())
        finally:
            os.close(fd)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process created it first: use its key
        finally:
            draft.unlink()
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ConfigError(f"{path} does not hold a usable key (at least 32 characters): delete it to get a new one.")
    return key
