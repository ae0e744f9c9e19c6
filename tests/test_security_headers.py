"""Issue 11 (headers, secrets, action_post, logout): no page of the portal can be framed by another
site, the parent area runs under a strict Content-Security-Policy, the session is signed with a key
nobody published, an unknown staff action is "not found", and logging out needs a same-site POST."""
from __future__ import annotations

import re
import stat

import pytest

from config import DEV_SECRET_KEY, ConfigError
from tests.support import factories
from tests.support.apps import TEST_OVERRIDES, build_app


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request.path}"
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


def assert_cannot_be_framed(response) -> None:
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert csp(response).get("frame-ancestors") == ["'none'"]
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"


def assert_strict_policy(response) -> None:
    """No inline script or style, nothing from another origin."""
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def isolated_app(tmp_path_factory):
    """An app of its own on a throw-away SQLite file (never the shared test database)."""
    def make(**overrides):
        url = f"sqlite:///{tmp_path_factory.mktemp('sec') / 'portail.db'}"
        return build_app(url, tmp_path_factory, **overrides)

    return make


# --- headers -------------------------------------------------------------------------------

def test_parent_page_cannot_be_framed_and_runs_under_a_strict_policy(app, factory, login):
    family = factory.household()
    client = login(app.test_client(), family.email)
    for path in ("/famille/", "/famille/panier", "/login/", "/compte/creer"):
        response = client.get(path) if path.startswith("/famille") else app.test_client().get(path)
        assert response.status_code == 200, path
        assert_cannot_be_framed(response)
        assert_strict_policy(response)


def test_staff_page_cannot_be_framed_nor_load_foreign_code(app, factory, login):
    staff = login(app.test_client(), factory.staff().email)
    response = staff.get("/establishmentview/list/")
    assert response.status_code == 200
    assert_cannot_be_framed(response)
    policy = csp(response)
    # Flask-AppBuilder's own templates carry inline scripts: allowed here, but only from this origin.
    assert policy["default-src"] == ["'self'"]
    assert set(policy["script-src"]) <= {"'self'", "'unsafe-inline'"}
    assert policy["object-src"] == ["'self'"]  # the PDF proofs on the review page, nothing foreign


def test_proofs_are_framed_by_the_review_page_only(app, factory, login):
    from app.models import Document, db
    from tests import dossier_helpers

    family = factory.household()
    dossier_helpers.fill_household(app, family.id)
    with app.app_context():
        document_id = db.session.query(Document.id).order_by(Document.id).limit(1).scalar()
    staff = login(app.test_client(), factory.staff().email)
    review = staff.get(f"/revue-dossiers/dossier/{family.id}")
    assert review.status_code == 200 and "<object" in review.get_data(as_text=True)
    assert csp(review)["object-src"] == ["'self'"]
    proof = staff.get(f"/revue-dossiers/document/{document_id}")
    assert proof.status_code == 200
    assert proof.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert csp(proof)["frame-ancestors"] == ["'self'"]
    assert csp(proof)["script-src"] == ["'self'"]


def test_api_answers_carry_the_headers(app, factory):
    anonymous = app.test_client().get("/api/v1/portal/basket")
    assert anonymous.status_code == 401
    assert_cannot_be_framed(anonymous)
    family = factory.household()
    client = app.test_client()
    token = client.post("/api/v1/security/login", json={"username": family.email, "password": factories.PASSWORD,
                                                        "provider": "db"})
    assert token.status_code == 200
    assert_cannot_be_framed(token)
    answer = client.get("/api/v1/portal/children",
                        headers={"Authorization": f"Bearer {token.get_json()['access_token']}"})
    assert answer.status_code == 200 and answer.is_json
    assert_cannot_be_framed(answer)
    assert_strict_policy(answer)


def test_error_pages_and_static_files_carry_the_headers(app, factory, login):
    not_found = app.test_client().get("/no-such-page")
    assert not_found.status_code == 404
    assert_cannot_be_framed(not_found)
    family = factory.household()
    client = login(app.test_client(), family.email)
    french = client.get("/famille/inscrire/999999")
    assert french.status_code == 404 and "Page introuvable" in french.get_data(as_text=True)
    assert_cannot_be_framed(french)
    assert_strict_policy(french)
    static = app.test_client().get("/static/portail.css")
    assert static.status_code == 200
    assert_cannot_be_framed(static)


def test_plain_http_demo_has_no_hsts_no_secure_cookie_and_no_https_redirect(app, factory):
    family = factory.household()
    client = app.test_client()
    page = client.get("/login/")
    assert page.status_code == 200  # no forced redirect to https on the laptop demo
    response = client.post("/login/", data={"username": family.email, "password": factories.PASSWORD},
                           base_url="https://portail.test")
    assert response.status_code == 302
    assert "Strict-Transport-Security" not in response.headers
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "Secure" not in cookie


def test_https_public_url_gives_hsts_and_secure_cookies(isolated_app):
    app = isolated_app(PUBLIC_URL="https://portail.example")
    family = factories.Factory(app).household()
    client = app.test_client()
    response = client.post("/login/", data={"username": family.email, "password": factories.PASSWORD},
                           base_url="https://portail.example")
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "; Secure" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Behind the TLS proxy the request itself arrives over http: the header still says https.
    proxied = app.test_client().get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in proxied.headers


# --- secret key ----------------------------------------------------------------------------

def _no_secret(tmp_path, **extra):
    settings = {**TEST_OVERRIDES, "TESTING": False, "SECRET_KEY": None, "INSTANCE_DIR": str(tmp_path),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portail.db'}",
                "UPLOAD_DIR": str(tmp_path / "uploads")}
    settings.update(extra)
    return settings


def test_missing_secret_key_is_generated_once_and_kept(tmp_path):
    from app import create_app

    first = create_app(_no_secret(tmp_path))
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = first.config["SECRET_KEY"]
    assert key != DEV_SECRET_KEY and len(key) >= 32
    assert key_file.read_text().strip() == key
    second = create_app(_no_secret(tmp_path))
    assert second.config["SECRET_KEY"] == key  # sessions survive a restart


def test_the_published_development_key_is_refused_everywhere(tmp_path):
    from app import create_app

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(_no_secret(tmp_path, SECRET_KEY=DEV_SECRET_KEY))


def test_tests_do_not_run_with_the_published_key(app):
    assert app.config["SECRET_KEY"] != DEV_SECRET_KEY and len(app.config["SECRET_KEY"]) >= 32


@pytest.mark.parametrize("key", [None, "", "short-key", DEV_SECRET_KEY])
def test_production_refuses_a_weak_or_missing_key_and_generates_nothing(tmp_path, key):
    from app import create_app

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(_no_secret(tmp_path, APP_ENV="production", SECRET_KEY=key, PAYMENT_PROVIDER="stripe",
                              STRIPE_WEBHOOK_SECRET="whsec_x"))
    assert not (tmp_path / "secret_key").exists()


# --- unknown actions -----------------------------------------------------------------------

def test_unknown_action_post_is_not_found_for_anyone(app, factory, login):
    anonymous = app.test_client().post("/establishmentview/action_post",
                                       data={"action": "no_such_action", "rowid": "1"})
    assert anonymous.status_code == 404
    staff = login(app.test_client(), factory.staff().email)
    response = staff.post("/establishmentview/action_post", data={"action": "no_such_action", "rowid": "1"})
    assert response.status_code == 404
    assert staff.get("/establishmentview/action/no_such_action/1").status_code == 404


def test_action_post_without_action_is_a_client_error(app, factory, login):
    staff = login(app.test_client(), factory.staff().email)
    assert staff.post("/establishmentview/action_post", data={"rowid": "1"}).status_code in (400, 404)


# --- logout --------------------------------------------------------------------------------

def _logged_in(client) -> bool:
    return client.get("/famille/").status_code == 200


def test_get_logout_asks_for_confirmation_and_keeps_the_session(app, factory, login):
    family = factory.household()
    client = login(app.test_client(), family.email)
    response = client.get("/logout/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'lang="fr"' in page and 'method="post"' in page and "Se déconnecter" in page
    assert _logged_in(client)
    logged_out = client.post("/logout/")
    assert logged_out.status_code == 302
    assert not _logged_in(client)


def test_logout_links_are_forms(app, factory, login):
    family = factory.household()
    parent_page = login(app.test_client(), family.email).get("/famille/").get_data(as_text=True)
    assert re.search(r'<form[^>]*method="post"[^>]*action="/logout/"', parent_page)
    assert 'href="/logout/"' not in parent_page
    staff_page = login(app.test_client(), factory.staff().email).get("/establishmentview/list/")
    staff_html = staff_page.get_data(as_text=True)
    assert re.search(r'<form[^>]*method="post"[^>]*action="/logout/"', staff_html)
    assert 'href="/logout/"' not in staff_html


def test_logout_post_needs_the_csrf_token(isolated_app):
    app = isolated_app(WTF_CSRF_ENABLED=True)
    family = factories.Factory(app).household()
    client = app.test_client()
    token = csrf_token(client.get("/login/").get_data(as_text=True))
    assert client.post("/login/", data={"username": family.email, "password": factories.PASSWORD,
                                        "csrf_token": token}).status_code == 302
    assert _logged_in(client)
    # A cross-site form cannot know the token: refused, still logged in.
    assert client.post("/logout/").status_code == 400
    assert _logged_in(client)
    page = client.get("/famille/").get_data(as_text=True)
    response = client.post("/logout/", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert not _logged_in(client)
