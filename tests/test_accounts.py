"""Parent accounts: sign-up confirmed by mail (sent by a job), login with the e-mail, password rule,
password reset by a signed time-limited link, throttled login with a French 429."""
from __future__ import annotations

import re

import pytest

from tests.dossier_helpers import audit_actions, mails
from tests.support.apps import build_app

GOOD = "Soleil-du-Var-2026"


def _signup(client, email="nina.durand@example.test", password=GOOD, confirm=None, **extra):
    data = {"first_name": "Nina", "last_name": "Durand", "email": email, "password": password,
            "conf_password": password if confirm is None else confirm, **extra}
    return client.post("/compte/creer", data=data)


def _link(app, kind, path_prefix):
    """The link of the last `kind` mail as the family receives it: the log masks it (issue 11), so
    the mail is delivered to the embedded console mailbox and read there."""
    from app.jobs.worker import run_pending
    from app.services.mail import console_outbox

    run_pending(app)
    bodies = [m.text for m in console_outbox(app) if m.kind == kind]
    assert bodies, f"no {kind} mail"
    match = re.search(r"http://portail\.test(" + re.escape(path_prefix) + r"[^\s\"<]+)", bodies[-1])
    assert match, bodies[-1]
    return match.group(1)


def test_signup_page_is_public_and_french(client):
    page = client.get("/compte/creer")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ["Créer un compte", "Adresse e-mail", "Mot de passe", "Confirmez le mot de passe"]:
        assert words in text
    assert "Sign" not in text and "Register" not in text
    assert 'name="csrf_token"' in text


def test_login_page_offers_signup_and_reset(client):
    text = client.get("/login/").get_data(as_text=True)
    assert "Adresse e-mail" in text and "/compte/creer" in text and "/compte/mot-de-passe-oublie" in text


@pytest.mark.parametrize("password, message", [
    ("court1", "au moins 10 caractères"),
    ("seulementdeslettres", "au moins un chiffre"),
    ("1234567890123", "au moins une lettre"),
    ("aaaaaaaaaa11", "trop simple"),
])
def test_weak_passwords_are_refused_in_french(app, client, password, message):
    response = _signup(client, password=password)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert mails(app) == []


def test_mismatched_confirmation_and_bad_email(app, client):
    text = _signup(client, confirm="Autre-chose-2026").get_data(as_text=True)
    assert "ne sont pas identiques" in text
    text = _signup(client, email="pas-une-adresse").get_data(as_text=True)
    assert "Adresse e-mail non valide" in text
    assert 'value="Nina"' in text  # what was typed is kept
    assert GOOD not in text  # never echo a password
    assert mails(app) == []


def test_signup_confirm_then_household_in_draft(app, client):
    from app.models import Household, db

    response = _signup(client, email="Nina.Durand@Example.test")
    assert response.status_code == 200
    assert "Vérifiez votre messagerie" in response.get_data(as_text=True)
    [(kind, to, subject, body, status)] = mails(app, "account_confirmation")
    assert to == "nina.durand@example.test" and "Confirmez" in subject and "Bonjour Nina" in body
    with app.app_context():
        assert app.appbuilder.sm.find_user(email="nina.durand@example.test") is None  # not before the link

    path = _link(app, "account_confirmation", "/compte/confirmer/")
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/famille/")
    home = client.get("/famille/").get_data(as_text=True)
    assert "Mon espace famille" in home and "Brouillon" in home
    with app.app_context():
        user = app.appbuilder.sm.find_user(email="nina.durand@example.test")
        assert [role.name for role in user.roles] == ["Parent"]
        household = db.session.query(Household).filter_by(owner_id=user.id).one()
        assert household.status == "draft" and household.email == "nina.durand@example.test"
        assert [(g.first_name, g.last_name) for g in household.guardians] == [("Nina", "Durand")]
        household_id = household.id
    assert {"account.confirmed", "household.created"} <= set(audit_actions(app, household_id))
    # The link works once.
    assert app.test_client().get(path).status_code == 400


def test_login_with_the_email_in_any_case(app, client):
    _signup(client)
    client.get(_link(app, "account_confirmation", "/compte/confirmer/"))
    fresh = app.test_client()
    response = fresh.post("/login/", data={"username": "NINA.durand@example.test", "password": GOOD})
    assert response.status_code == 302
    assert fresh.get("/famille/").status_code == 200
    bad = app.test_client().post("/login/", data={"username": "nina.durand@example.test", "password": "faux"},
                                 follow_redirects=True)
    assert "Identifiant ou mot de passe incorrect" in bad.get_data(as_text=True)


def test_confirmation_mail_goes_through_a_job(app, client):
    from app.jobs.worker import run_pending

    _signup(client)
    assert [m[4] for m in mails(app, "account_confirmation")] == ["queued"]
    run_pending(app)
    assert [m[4] for m in mails(app, "account_confirmation")] == ["sent"]


def test_signup_with_a_known_address_says_the_same_and_mails_the_owner(app, client, factory):
    family = factory.household()
    response = _signup(client, email=family.email)
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.get_data(as_text=True)
    assert mails(app, "account_confirmation") == []
    [(kind, to, subject, body, status)] = mails(app, "account_exists")
    assert to == family.email and "/compte/mot-de-passe-oublie" in body


def test_signing_up_again_replaces_the_pending_registration(app, client):
    _signup(client)
    first = _link(app, "account_confirmation", "/compte/confirmer/")
    _signup(client, password="Autre-Mot-2026x")
    second = _link(app, "account_confirmation", "/compte/confirmer/")
    assert first != second
    assert app.test_client().get(first).status_code == 400
    assert app.test_client().get(second).status_code == 302
    assert app.test_client().post("/login/", data={"username": "nina.durand@example.test",
                                                   "password": "Autre-Mot-2026x"}).status_code == 302


def test_expired_or_forged_confirmation_links(app, client):
    from datetime import timedelta

    from app.models import db, utcnow

    _signup(client)
    path = _link(app, "account_confirmation", "/compte/confirmer/")
    assert client.get("/compte/confirmer/forged-token-forged-token").status_code == 400
    with app.app_context():
        model = app.appbuilder.sm.registeruser_model
        db.session.query(model).update({"registration_date": (utcnow() - timedelta(days=8)).replace(tzinfo=None)})
        db.session.commit()
    response = client.get(path)
    assert response.status_code == 400 and "a expiré" in response.get_data(as_text=True)


# --- password reset ------------------------------------------------------------------------

def test_password_reset_by_mail(app, client, factory):
    family = factory.household()
    response = client.post("/compte/mot-de-passe-oublie", data={"email": family.email.upper()})
    assert "Si un compte existe" in response.get_data(as_text=True)
    path = _link(app, "password_reset", "/compte/nouveau-mot-de-passe/")
    assert "Choisir un nouveau mot de passe" in client.get(path).get_data(as_text=True)
    weak = client.post(path, data={"password": "abc", "conf_password": "abc"})
    assert weak.status_code == 400 and "au moins 10 caractères" in weak.get_data(as_text=True)
    done = client.post(path, data={"password": "Nouveau-Secret-77", "conf_password": "Nouveau-Secret-77"})
    assert done.status_code == 302
    assert app.test_client().post("/login/", data={"username": family.email,
                                                   "password": "Nouveau-Secret-77"}).status_code == 302
    old = app.test_client().post("/login/", data={"username": family.email, "password": "Motdepasse-solide-42"},
                                 follow_redirects=True)
    assert "Identifiant ou mot de passe incorrect" in old.get_data(as_text=True)
    # The link works once.
    assert client.get(path).status_code == 400
    assert [m[0] for m in mails(app)] == ["password_reset", "password_changed"]


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(app, client):
    response = client.post("/compte/mot-de-passe-oublie", data={"email": "personne@example.test"})
    assert response.status_code == 200 and "Si un compte existe" in response.get_data(as_text=True)
    assert mails(app) == []


def test_password_reset_links_expire(app, client, factory, monkeypatch):
    family = factory.household()
    client.post("/compte/mot-de-passe-oublie", data={"email": family.email})
    path = _link(app, "password_reset", "/compte/nouveau-mot-de-passe/")
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = client.get(path)
    assert response.status_code == 400 and "a expiré" in response.get_data(as_text=True)
    tampered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", 3600)
    assert client.get(tampered).status_code == 400


# --- throttling ----------------------------------------------------------------------------

def test_login_is_rate_limited_with_a_french_page(tmp_path_factory):
    # Its own database: building an app drops and recreates the tables of the URL it is given.
    url = f"sqlite:///{tmp_path_factory.mktemp('ratelimit') / 'rl.db'}"
    limited = build_app(url, tmp_path_factory, RATELIMIT_ENABLED=True,
                        AUTH_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI="memory://")
    client = limited.test_client()
    answers = [client.post("/login/", data={"username": "x@example.test", "password": "faux"}).status_code
               for _ in range(4)]
    assert answers[:3] == [200, 200, 200] and answers[3] == 429  # a wrong password shows the form again
    response = client.post("/login/", data={"username": "x@example.test", "password": "faux"})
    text = response.get_data(as_text=True)
    assert response.status_code == 429 and "Trop de tentatives" in text and "Too Many" not in text
    assert client.get("/login/").status_code == 200  # only POSTs are throttled
    # Sign-up and reset requests send mails: throttled as well.
    other = limited.test_client()
    codes = [other.post("/compte/mot-de-passe-oublie", data={"email": "a@example.test"},
                        environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code for _ in range(4)]
    assert codes[3] == 429


@pytest.mark.redis
def test_login_throttling_is_shared_through_redis(tmp_path_factory, real_redis_url):
    """Several web processes count the same attempts when the limiter stores them in Redis."""
    import uuid

    prefix = f"pf-test-{uuid.uuid4().hex[:8]}"
    apps = [build_app(f"sqlite:///{tmp_path_factory.mktemp('rl') / 'rl.db'}", tmp_path_factory,
                      RATELIMIT_ENABLED=True, AUTH_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=real_redis_url,
                      RATELIMIT_KEY_PREFIX=prefix) for _ in range(2)]
    first, second = (a.test_client() for a in apps)
    data = {"username": "x@example.test", "password": "faux"}
    answers = [first.post("/login/", data=data).status_code, second.post("/login/", data=data).status_code,
               first.post("/login/", data=data).status_code, second.post("/login/", data=data).status_code]
    assert answers == [200, 200, 200, 429]
