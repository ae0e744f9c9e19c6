"""Login and account-mail throttling fit for a crowd (issue 11).

Why not one counter per client address: on opening day whole schools and mobile carriers reach the
portal through one address (NAT, carrier-grade NAT, the reverse proxy when it is not trusted), so a
per-address limit on every login locks thousands of families out after a handful of logins, and
lets anyone lock everyone out. What an attacker does that a crowd does not is *fail*: so

- failed logins are counted per account × address (``AUTH_RATE_LIMIT``: a parent's typos, a
  guesser at one address) and per account from every address together (``LOGIN_ACCOUNT_LIMIT``:
  a guesser with many addresses);
- failed logins from one address on any account hit a ceiling sized for a town behind one NAT
  (``LOGIN_ADDRESS_LIMIT``: password spraying);
- successful logins are never counted;
- sign-up and password-reset requests, which send mails, are counted per address with a crowd-sized
  ceiling (``MAIL_FORM_ADDRESS_LIMIT``) and per target e-mail (``MAIL_TARGET_LIMIT``) so that one
  mailbox cannot be flooded.

The web login, the JWT login and the mail forms all call these functions: one rule, every entry
point. Counters live in Redis when ``RATELIMIT_STORAGE_URI`` or ``REDIS_URL`` is set (every web
process shares them), in process memory otherwise (the embedded default). Windows are moving
windows (``limits``' strategy): "5 per 15 minutes" never lets 10 through around a window edge.

A throttle that cannot reach its storage lets the request through and logs it: a Redis outage must
not close the portal (DESIGN.md §4); the password check still runs.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

_EXT = "portail_login_throttle"
# The epoch key outlives every window it invalidates (the longest shipped window is an hour).
_EPOCH_TTL_SECONDS = 2 * 24 * 3600
MAIL_FORMS = ("signup", "reset")


@dataclass
class _Throttle:
    uri: str
    storage: Any  # a limits Storage (memory or Redis)
    limiter: MovingWindowRateLimiter


def _storage_uri(config) -> str:
    """RATELIMIT_STORAGE_URI when it names a real store, else the app's Redis, else memory."""
    uri = config.get("RATELIMIT_STORAGE_URI")
    if uri and not uri.startswith("memory://"):
        return uri
    return config.get("REDIS_URL") or "memory://"


def _throttle() -> _Throttle:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    uri = _storage_uri(app.config)
    state = app.extensions.get(_EXT)
    if state is None or state.uri != uri:
        options = {}
        if uri.startswith(("redis", "rediss")):
            # A dead Redis must cost a login milliseconds, not a minute (same as app/jobs/queue.py).
            options = {"socket_connect_timeout": 1, "socket_timeout": 2}
        storage = storage_from_string(uri, **options)
        state = _Throttle(uri, storage, MovingWindowRateLimiter(storage))
        app.extensions[_EXT] = state
    return state


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED"))


@functools.lru_cache(maxsize=32)
def _parse(value: str) -> RateLimitItem:
    return parse(value)


def _limit(name: str) -> RateLimitItem:
    return _parse(str(current_app.config[name]))


def _prefix() -> str:
    return current_app.config.get("RATELIMIT_KEY_PREFIX") or "portail"


def normalise_email(email: str | None) -> str:
    return (email or "").strip().lower()


def _account_key(email: str | None) -> str:
    # Counters are keyed by a digest: Redis never holds the families' e-mail addresses.
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]


def _address(address: str | None) -> str:
    return (address or "unknown").strip() or "unknown"


def _fail_open(default):
    """Storage errors let the request through (logged): an outage must not lock families out."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if not _enabled():
                return default
            try:
                return func(*args, **kwargs)
            except ValueError:
                raise  # a programming error (unknown form, malformed limit), not an outage
            except Exception as exc:  # noqa: BLE001 - any storage failure, whatever the backend
                log.warning("login throttle unavailable in %s (%s: %s); request let through",
                            func.__name__, exc.__class__.__name__, exc)
                return default
        return wrapper
    return decorate


def _epoch(state: _Throttle, account: str) -> str:
    return str(state.storage.get(f"{_prefix()}/login-epoch/{account}") or 0)


def _login_counters(state: _Throttle, email: str, address: str | None) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    prefix, where = _prefix(), _address(address)
    counters: list[tuple[RateLimitItem, tuple[str, ...]]] = [
        (_limit("LOGIN_ADDRESS_LIMIT"), (prefix, "login-address", where))]
    if normalise_email(email):
        account = _account_key(email)
        epoch = _epoch(state, account)
        counters += [
            (_limit("AUTH_RATE_LIMIT"), (prefix, "login-account-address", account, epoch, where)),
            (_limit("LOGIN_ACCOUNT_LIMIT"), (prefix, "login-account", account, epoch)),
        ]
    return counters


def _retry_after(state: _Throttle, counters) -> int | None:
    """Seconds until every exhausted counter has room again, or None when none is exhausted."""
    waits = []
    for item, identifiers in counters:
        if not state.limiter.test(item, *identifiers):
            reset_at = state.limiter.get_window_stats(item, *identifiers).reset_time
            waits.append(max(1, math.ceil(reset_at - time.time())))
    return max(waits) if waits else None


@_fail_open(None)
def check_allowed(email: str | None, address: str | None) -> int | None:
    """Before checking a password: None when the attempt may go on, else the seconds to wait.
    Counts nothing, so a successful login never uses up anyone's allowance."""
    state = _throttle()
    return _retry_after(state, _login_counters(state, email or "", address))


@_fail_open(None)
def record_failure(email: str | None, address: str | None) -> None:
    """After a wrong password (web or JWT): one more failure on every counter it belongs to."""
    state = _throttle()
    for item, identifiers in _login_counters(state, email or "", address):
        state.limiter.hit(item, *identifiers)


@_fail_open(None)
def clear_account(email: str | None) -> None:
    """After a password reset the owner has proven they hold the mailbox: their own earlier
    failures (from any address) must not keep them out. Starting a new epoch of the account's
    counters does that without knowing every address they failed from."""
    if not normalise_email(email):
        return
    state = _throttle()
    state.storage.incr(f"{_prefix()}/login-epoch/{_account_key(email)}", _EPOCH_TTL_SECONDS)


@_fail_open(None)
def check_mail_form(form: str, target: str | None, address: str | None) -> int | None:
    """A sign-up or reset request (``form`` in MAIL_FORMS) for ``target`` from ``address``: None
    when it may go on, else the seconds to wait. The request counts against its address at once
    (whether or not a mail leaves: a refused sign-up still costs a password hash); the target only
    counts when a mail is sent (`record_mail`)."""
    if form not in MAIL_FORMS:
        raise ValueError(f"unknown mail form {form!r}")
    state = _throttle()
    prefix = _prefix()
    address_counter = (_limit("MAIL_FORM_ADDRESS_LIMIT"), (prefix, "mail-address", _address(address)))
    counters = [address_counter]
    if normalise_email(target):
        counters.append((_limit("MAIL_TARGET_LIMIT"), (prefix, f"mail-{form}", _account_key(target))))
    wait = _retry_after(state, counters)
    if wait is None:
        state.limiter.hit(address_counter[0], *address_counter[1])
    return wait


@_fail_open(None)
def record_mail(form: str, target: str | None) -> None:
    """A sign-up or reset mail was asked for ``target`` (and sent, when the account exists)."""
    if form not in MAIL_FORMS or not normalise_email(target):
        return
    state = _throttle()
    state.limiter.hit(_limit("MAIL_TARGET_LIMIT"), _prefix(), f"mail-{form}", _account_key(target))
