"""Login throttling fit for a crowd (issue 11): failures are counted per account and per account ×
address, successes never; one address gets a ceiling sized for a town behind one NAT; the JWT login
shares the same counters; every 429 says when to retry (Retry-After and French text); sign-up and
reset mails are limited per address and per target; TRUSTED_PROXY_HOPS decides which address counts.

The suite runs with RATELIMIT_ENABLED off (tests/conftest.py): these tests build apps with the
throttle on, and give each test its own key prefix so that counters never leak between tests.
"""
from __future__ import annotations

import math
import uuid

import pytest

from tests.dossier_helpers import mails
from tests.support import factories
from tests.support.apps import build_app, truncate_all

NAT = {"REMOTE_ADDR": "198.51.100.7"}  # a school, a mobile carrier: many parents, one address
ELSEWHERE = {"REMOTE_ADDR": "192.0.2.44"}
WRONG = "pas-le-bon-mot-de-passe"


def _own_app(tmp_path_factory, name, **overrides):
    # Its own SQLite database: building an app drops and recreates the tables of the URL it is given.
    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'throttle.db'}"
    config = {"RATELIMIT_ENABLED": True, "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://"}
    config.update(overrides)
    return build_app(url, tmp_path_factory, **config)


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory):
    """The throttle on, with the shipped limits (config.py), no proxy trusted."""
    return _own_app(tmp_path_factory, "throttle")


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory):
    """The throttle on behind one trusted reverse proxy."""
    return _own_app(tmp_path_factory, "proxied", TRUSTED_PROXY_HOPS=1)


def _fresh(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_KEY_PREFIX", f"pf-test-{uuid.uuid4().hex[:8]}")
    return app


@pytest.fixture
def throttled(limited_app, monkeypatch):
    yield _fresh(limited_app, monkeypatch)
    truncate_all(limited_app)


@pytest.fixture
def proxied(proxied_app, monkeypatch):
    yield _fresh(proxied_app, monkeypatch)
    truncate_all(proxied_app)


def _web_login(app, email, password=factories.PASSWORD, environ=NAT, headers=None):
    return app.test_client().post("/login/", data={"username": email, "password": password},
                                  environ_base=environ, headers=headers or {})


def _jwt_login(app, email, password=factories.PASSWORD, environ=NAT):
    return app.test_client().post("/api/v1/security/login", environ_base=environ,
                                  json={"username": email, "password": password, "provider": "db"})


def _retry_after(response) -> int:
    value = response.headers.get("Retry-After")
    assert value is not None and value.isdigit(), f"no Retry-After on {response.status_code}"
    return int(value)


def _assert_french_429_page(response, max_seconds):
    assert response.status_code == 429
    seconds = _retry_after(response)
    assert 0 < seconds <= max_seconds
    text = response.get_data(as_text=True)
    assert "Trop de tentatives" in text and "Too Many" not in text
    if seconds < 60:
        expected = "1 seconde" if seconds == 1 else f"{seconds} secondes"
    else:
        minutes = math.ceil(seconds / 60)
        expected = "1 minute" if minutes == 1 else f"{minutes} minutes"
    assert f"Réessayez dans {expected}" in text, text


# --- the crowd behind one address ----------------------------------------------------------

def test_fifty_parents_behind_one_address_log_in_while_a_guessed_account_is_throttled(throttled):
    factory = factories.Factory(throttled)
    parents = [factory.user() for _ in range(51)]
    victim = factory.user()
    guesses = []
    for number, parent in enumerate(parents[:50]):
        assert _web_login(throttled, parent.email).status_code == 302, f"parent {number} refused"
        if number % 8 == 0 and len(guesses) < 6:  # the guessing goes on in the middle of the crowd
            guesses.append(_web_login(throttled, victim.email, WRONG))
    assert [r.status_code for r in guesses] == [200] * 5 + [429]
    _assert_french_429_page(guesses[-1], max_seconds=15 * 60)
    # While throttled, even the right password is refused for that account from that address ...
    _assert_french_429_page(_web_login(throttled, victim.email), max_seconds=15 * 60)
    # ... but the other families behind the same address still log in.
    assert _web_login(throttled, parents[50].email).status_code == 302
    assert _web_login(throttled, parents[0].email.upper()).status_code == 302


def test_the_account_throttle_ignores_the_case_of_the_email(throttled):
    victim = factories.Factory(throttled).user()
    for spelling in (victim.email, victim.email.upper(), " " + victim.email, victim.email.title(),
                     victim.email):
        assert _web_login(throttled, spelling, WRONG).status_code == 200
    assert _web_login(throttled, victim.email.upper()).status_code == 429


def test_guesses_from_many_addresses_hit_the_account_wide_limit(throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_ACCOUNT_LIMIT", "8 per hour")
    victim = factories.Factory(throttled).user()
    codes = [_web_login(throttled, victim.email, WRONG, environ={"REMOTE_ADDR": f"203.0.113.{i}"}).status_code
             for i in range(9)]
    assert codes == [200] * 8 + [429]


def test_the_jwt_login_shares_the_account_counters(throttled):
    factory = factories.Factory(throttled)
    victim, other = factory.user(), factory.user()
    assert [_web_login(throttled, victim.email, WRONG).status_code for _ in range(3)] == [200] * 3
    assert [_jwt_login(throttled, victim.email, WRONG).status_code for _ in range(2)] == [401] * 2
    refused = _jwt_login(throttled, victim.email, WRONG)
    assert refused.status_code == 429 and 0 < _retry_after(refused) <= 15 * 60
    message = refused.get_json()["message"]
    assert "Trop de tentatives" in message and "Réessayez dans" in message
    assert _jwt_login(throttled, victim.email).status_code == 429  # the right password too
    assert _web_login(throttled, victim.email).status_code == 429
    # Another account from the same address is not affected.
    answer = _jwt_login(throttled, other.email)
    assert answer.status_code == 200 and answer.get_json()["access_token"]


def test_the_jwt_login_alone_is_throttled(throttled):
    victim = factories.Factory(throttled).user()
    codes = [_jwt_login(throttled, victim.email, WRONG).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_the_address_ceiling_counts_failures_only(throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_ADDRESS_LIMIT", "10 per minute")
    factory = factories.Factory(throttled)
    parents = [factory.user() for _ in range(22)]
    for parent in parents[:20]:  # successes are never counted
        assert _web_login(throttled, parent.email).status_code == 302
    # Password spraying: one wrong guess on each of many accounts from one address.
    assert [_web_login(throttled, f"inconnu{i}@example.test", WRONG).status_code for i in range(10)] == [200] * 10
    refused = _web_login(throttled, parents[20].email)
    _assert_french_429_page(refused, max_seconds=60)
    assert _jwt_login(throttled, parents[20].email).status_code == 429
    # Other addresses are not affected.
    assert _web_login(throttled, parents[21].email, environ=ELSEWHERE).status_code == 302


def test_a_password_reset_lifts_the_account_throttle(throttled):
    victim = factories.Factory(throttled).user()
    assert [_web_login(throttled, victim.email, WRONG).status_code for _ in range(6)][-1] == 429
    # The link the reset mail carries (made here: the mail log masks it).
    from app.services.household import accounts

    with throttled.app_context():
        token = accounts.make_reset_token(accounts.find_user_by_email(victim.email))
    client = throttled.test_client()
    done = client.post(f"/compte/nouveau-mot-de-passe/{token}", data={"password": "Nouveau-Secret-77", "conf_password": "Nouveau-Secret-77"},
                       environ_base=NAT)
    assert done.status_code == 302
    assert _web_login(throttled, victim.email, "Nouveau-Secret-77").status_code == 302


def test_the_throttle_is_off_when_rate_limiting_is_disabled(throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "RATELIMIT_ENABLED", False)
    victim = factories.Factory(throttled).user()
    assert {_web_login(throttled, victim.email, WRONG).status_code for _ in range(7)} == {200}
    assert _web_login(throttled, victim.email).status_code == 302


def test_malformed_jwt_logins_are_400_not_500(throttled):
    client = throttled.test_client()
    for body in ({"username": 5, "password": "x", "provider": "db"}, ["a"], {"password": "x"},
                 {"username": "a@example.test", "password": "x"}):
        answer = client.post("/api/v1/security/login", json=body, environ_base=NAT)
        assert answer.status_code == 400, (body, answer.status_code)
    assert client.post("/api/v1/security/login", data="username=a", environ_base=NAT).status_code == 400
    # The OpenAPI document tells integrators about the 429 (staff read it).
    staff = factories.Factory(throttled).staff()
    reader = throttled.test_client()
    assert reader.post("/login/", data={"username": staff.email, "password": factories.PASSWORD},
                       environ_base=NAT).status_code == 302
    spec = reader.get("/api/v1/_openapi").get_json()
    assert "429" in spec["paths"]["/api/v1/security/login"]["post"]["responses"]


def test_a_redis_outage_does_not_lock_families_out(throttled, monkeypatch, caplog):
    monkeypatch.setitem(throttled.config, "RATELIMIT_STORAGE_URI", "redis://127.0.0.1:1/0")  # nothing listens
    parent = factories.Factory(throttled).user()
    assert _web_login(throttled, parent.email, WRONG).status_code == 200
    assert _web_login(throttled, parent.email).status_code == 302
    assert _jwt_login(throttled, parent.email).status_code == 200
    assert "login throttle unavailable" in caplog.text


# --- mails: sign-up and password reset -----------------------------------------------------

def test_reset_requests_from_one_address_fit_a_crowd_but_not_a_mail_bomb(throttled):
    factory = factories.Factory(throttled)
    families = [factory.user() for _ in range(30)]
    client = throttled.test_client()
    for family in families:
        answer = client.post("/compte/mot-de-passe-oublie", data={"email": family.email}, environ_base=NAT)
        assert answer.status_code == 200, family.email
    # One target address cannot be flooded, whichever address asks.
    target = families[0].email
    codes = [throttled.test_client().post("/compte/mot-de-passe-oublie", data={"email": target},
                                          environ_base={"REMOTE_ADDR": f"203.0.113.{i}"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]  # the crowd loop already sent one
    refused = throttled.test_client().post("/compte/mot-de-passe-oublie", data={"email": target.upper()},
                                           environ_base=ELSEWHERE)
    _assert_french_429_page(refused, max_seconds=3600)
    assert len(mails(throttled, "password_reset")) == 30 + 2


def test_sign_up_is_limited_per_target_and_per_address(throttled, monkeypatch):
    def signup(email, environ):
        return throttled.test_client().post("/compte/creer", environ_base=environ, data={
            "first_name": "Nina", "last_name": "Durand", "email": email,
            "password": "Soleil-du-Var-2026", "conf_password": "Soleil-du-Var-2026"})

    # A refused form (weak password) sends no mail and does not use up the target's allowance.
    weak = throttled.test_client().post("/compte/creer", environ_base=NAT, data={
        "first_name": "Nina", "last_name": "Durand", "email": "nina@example.test",
        "password": "abc", "conf_password": "abc"})
    assert weak.status_code == 400
    assert [signup("nina@example.test", {"REMOTE_ADDR": f"203.0.113.{i}"}).status_code
            for i in range(4)] == [200, 200, 200, 429]
    monkeypatch.setitem(throttled.config, "MAIL_FORM_ADDRESS_LIMIT", "5 per minute")
    codes = [signup(f"parent{i}@example.test", ELSEWHERE).status_code for i in range(6)]
    assert codes == [200] * 5 + [429]


# --- which address counts ------------------------------------------------------------------

def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(proxied, monkeypatch):
    monkeypatch.setitem(proxied.config, "LOGIN_ADDRESS_LIMIT", "3 per minute")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # Many clients behind the proxy: each has its own count.
    for i in range(6):
        answer = _web_login(proxied, f"inconnu{i}@example.test", WRONG, environ=proxy,
                            headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert answer.status_code == 200
    one = {"X-Forwarded-For": "203.0.113.99"}
    codes = [_web_login(proxied, f"autre{i}@example.test", WRONG, environ=proxy, headers=one).status_code
             for i in range(4)]
    assert codes == [200, 200, 200, 429]


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_ADDRESS_LIMIT", "3 per minute")
    codes = [_web_login(throttled, f"inconnu{i}@example.test", WRONG,
                        headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]  # a forged header does not buy new attempts


# --- several web processes -----------------------------------------------------------------

@pytest.mark.redis
def test_counters_are_shared_through_redis(limited_app, proxied_app, real_redis_url, monkeypatch):
    """Two app instances (two web processes) with REDIS_URL set count the same failures."""
    import redis

    prefix = f"pf-test-{uuid.uuid4().hex[:8]}"
    first, second = limited_app, proxied_app
    for app in (first, second):
        monkeypatch.setitem(app.config, "REDIS_URL", real_redis_url)
        monkeypatch.setitem(app.config, "RATELIMIT_KEY_PREFIX", prefix)
    connection = redis.Redis.from_url(real_redis_url)
    try:
        email = "famille@example.test"
        codes = [_web_login(first, email, WRONG).status_code, _jwt_login(second, email, WRONG).status_code,
                 _web_login(second, email, WRONG).status_code, _jwt_login(first, email, WRONG).status_code,
                 _web_login(first, email, WRONG).status_code]
        assert codes == [200, 401, 200, 401, 200]
        refused = _web_login(second, email, WRONG)
        assert refused.status_code == 429 and _retry_after(refused) > 0
        assert _jwt_login(first, email, WRONG).status_code == 429
        assert any(connection.scan_iter(f"*{prefix}*"))  # the counters are in Redis, not in a process
    finally:
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)
