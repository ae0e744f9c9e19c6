"""Changing one's password (/compte/mot-de-passe) and what a change or a reset ends: every other
browser session and every JWT issued before it (issue 11, finding 8). FAB's own self-service form,
which asked no current password and skipped the portal's rules, now only leads to the portal's."""
from __future__ import annotations

import html
import json

import pytest

from tests.dossier_helpers import audit_actions, mails
from tests.support import factories

PAGE = "/compte/mot-de-passe"
NEW = "Nouveau-Secret-77"
API_CHILDREN = "/api/v1/portal/children"


def _change(client, current=factories.PASSWORD, new=NEW, confirm=None):
    return client.post(PAGE, data={"current_password": current, "password": new,
                                   "conf_password": new if confirm is None else confirm})


def _can_log_in(app, email, password) -> bool:
    response = app.test_client().post("/login/", data={"username": email, "password": password})
    return response.status_code in (302, 303)


def _token(app, email, password=factories.PASSWORD, refresh=False) -> dict:
    response = app.test_client().post("/api/v1/security/login", json={
        "username": email, "password": password, "provider": "db", "refresh": refresh})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _reset_link(app, user_id) -> str:
    """The link the reset mail carries (the mail log masks it, so it is made the same way here)."""
    from app.models import db
    from app.services.household import accounts

    with app.app_context():
        token = accounts.make_reset_token(db.session.get(app.appbuilder.sm.user_model, user_id))
    return f"/compte/nouveau-mot-de-passe/{token}"


def _audit_rows(app, action):
    from app.models import AuditLog, db

    with app.app_context():
        rows = [(a.actor_id, a.entity, a.entity_id, a.before, a.after)
                for a in db.session.query(AuditLog).filter_by(action=action)]
    return rows


# --- the form ------------------------------------------------------------------------------

def test_page_needs_a_login_and_is_french(app, client, factory, login):
    anonymous = client.get(PAGE)
    assert anonymous.status_code in (302, 303) and "/login/" in anonymous.headers["Location"]
    family = factory.household()
    page = login(app.test_client(), family.email).get(PAGE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Mot de passe actuel" in text and "Nouveau mot de passe" in text and 'lang="fr"' in text


def test_wrong_current_password_is_refused_in_french(app, factory, login):
    family = factory.household()
    browser = login(app.test_client(), family.email)
    response = _change(browser, current="pas-le-bon-123")
    assert response.status_code == 400
    assert "Le mot de passe actuel est incorrect" in response.get_data(as_text=True)
    assert _can_log_in(app, family.email, factories.PASSWORD) and not _can_log_in(app, family.email, NEW)
    assert mails(app, "password_changed") == []
    assert "account.password_changed" not in audit_actions(app)


@pytest.mark.parametrize("new, confirm, message", [
    ("abc", None, "au moins 10 caractères"),
    ("sanschiffres-ici", None, "au moins un chiffre"),
    (NEW, "Autre-Secret-88", "ne sont pas identiques"),
    (factories.PASSWORD, None, "différent de l'actuel"),
])
def test_new_password_follows_the_portal_rules(app, factory, login, new, confirm, message):
    family = factory.household()
    browser = login(app.test_client(), family.email)
    response = _change(browser, new=new, confirm=confirm)
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))
    assert _can_log_in(app, family.email, factories.PASSWORD)
    assert mails(app, "password_changed") == []


def test_change_mails_audits_and_ends_the_other_sessions(app, factory, login):
    family = factory.household()
    here = login(app.test_client(), family.email)
    elsewhere = login(app.test_client(), family.email)
    assert elsewhere.get("/famille/").status_code == 200

    done = _change(here)
    assert done.status_code in (302, 303)
    followed = here.get(done.headers["Location"], follow_redirects=True)
    assert "Votre mot de passe a été modifié" in followed.get_data(as_text=True)
    # The browser that made the change stays logged in…
    assert here.get("/famille/").status_code == 200
    # …the other one is logged out and told why, in French.
    kicked = elsewhere.get("/famille/")
    assert kicked.status_code in (302, 303) and "/login/" in kicked.headers["Location"]
    login_page = elsewhere.get(kicked.headers["Location"]).get_data(as_text=True)
    assert "Votre mot de passe a été modifié" in login_page and "reconnectez-vous" in login_page
    assert elsewhere.get("/famille/").status_code in (302, 303)  # and stays logged out

    sent = mails(app, "password_changed")
    assert [(m[1], m[2]) for m in sent] == [(family.email, "Votre mot de passe a été modifié")]
    rows = _audit_rows(app, "account.password_changed")
    assert len(rows) == 1 and rows[0][:3] == (family.user_id, "user", family.user_id)
    assert NEW not in json.dumps(rows) and "pbkdf2" not in json.dumps(rows)
    assert _can_log_in(app, family.email, NEW) and not _can_log_in(app, family.email, factories.PASSWORD)


def test_tokens_issued_before_a_change_are_refused(app, factory, login):
    family = factory.household()
    before = _token(app, family.email, refresh=True)
    api = app.test_client()
    assert api.get(API_CHILDREN, headers=_bearer(before["access_token"])).status_code == 200

    assert _change(login(app.test_client(), family.email)).status_code in (302, 303)

    refused = api.get(API_CHILDREN, headers=_bearer(before["access_token"]))
    assert refused.status_code == 401 and refused.is_json
    assert "mot de passe" in json.dumps(refused.get_json(), ensure_ascii=False)
    # The old refresh token cannot mint a fresh access token either.
    assert api.post("/api/v1/security/refresh", headers=_bearer(before["refresh_token"])).status_code == 401
    after = _token(app, family.email, password=NEW)
    assert api.get(API_CHILDREN, headers=_bearer(after["access_token"])).status_code == 200


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admin_change_their_password_too(app, factory, login, role):
    person = getattr(factory, role)()
    here = login(app.test_client(), person.email)
    elsewhere = login(app.test_client(), person.email)
    page = here.get(PAGE)
    assert page.status_code == 200 and "Mot de passe actuel" in page.get_data(as_text=True)
    assert _change(here).status_code in (302, 303)
    assert here.get("/").status_code == 200
    kicked = elsewhere.get("/")
    assert kicked.status_code in (302, 303) and "/login/" in kicked.headers["Location"]
    assert [m[1] for m in mails(app, "password_changed")] == [person.email]


# --- the reset link ends sessions and tokens as well ----------------------------------------

def test_reset_by_link_ends_sessions_and_tokens(app, factory, login):
    family = factory.household()
    browser = login(app.test_client(), family.email)
    token = _token(app, family.email)["access_token"]
    reset = app.test_client().post(_reset_link(app, family.user_id), data={"password": NEW, "conf_password": NEW})
    assert reset.status_code in (302, 303)

    kicked = browser.get("/famille/")
    assert kicked.status_code in (302, 303) and "/login/" in kicked.headers["Location"]
    assert app.test_client().get(API_CHILDREN, headers=_bearer(token)).status_code == 401
    fresh = _token(app, family.email, password=NEW)["access_token"]
    assert app.test_client().get(API_CHILDREN, headers=_bearer(fresh)).status_code == 200


def test_an_admin_reset_of_someone_else_ends_their_sessions(app, factory, login):
    family = factory.household()
    browser = login(app.test_client(), family.email)
    with app.app_context():
        app.appbuilder.sm.reset_password(family.user_id, NEW)
    kicked = browser.get("/famille/")
    assert kicked.status_code in (302, 303) and "/login/" in kicked.headers["Location"]


# --- FAB's self-service form ---------------------------------------------------------------

@pytest.mark.parametrize("role", ["household", "staff"])
def test_fab_resetmypassword_form_leads_to_the_portal_form(app, factory, login, role):
    person = getattr(factory, role)()
    browser = login(app.test_client(), person.email)
    shown = browser.get("/resetmypassword/form")
    assert shown.status_code in (302, 303) and shown.headers["Location"].endswith(PAGE)
    posted = browser.post("/resetmypassword/form", data={"password": NEW, "conf_password": NEW})
    assert posted.status_code in (302, 303) and posted.headers["Location"].endswith(PAGE)
    assert _can_log_in(app, person.email, factories.PASSWORD) and not _can_log_in(app, person.email, NEW)
    assert browser.get("/famille/" if role == "household" else "/").status_code == 200


@pytest.mark.parametrize("role, page", [("household", "/famille/"), ("staff", "/"), ("admin", "/")])
def test_every_area_links_to_the_form(app, factory, login, role, page):
    person = getattr(factory, role)()
    text = login(app.test_client(), person.email).get(page).get_data(as_text=True)
    assert f'href="{PAGE}"' in text
