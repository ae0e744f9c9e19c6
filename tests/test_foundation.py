"""Foundation: settings, health, roles, French screens, constraints, migrations, demo data."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from config import DEV_SECRET_KEY, ConfigError, check_production
from tests.support.apps import TEST_OVERRIDES, build_app

# --- settings ------------------------------------------------------------------------------

def test_production_refuses_the_development_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY, "PAYMENT_PROVIDER": "stripe",
                           "STRIPE_WEBHOOK_SECRET": "whsec_x"})


def test_production_refuses_the_sandbox_payment_provider():
    with pytest.raises(ConfigError, match="sandbox"):
        check_production({"APP_ENV": "production", "SECRET_KEY": "k" * 40, "PAYMENT_PROVIDER": "sandbox"})


def test_production_starts_with_real_settings():
    check_production({"APP_ENV": "production", "SECRET_KEY": "k" * 40, "PAYMENT_PROVIDER": "stripe",
                      "STRIPE_WEBHOOK_SECRET": "whsec_x"})


def test_create_app_refuses_production_without_secret():
    from app import create_app

    with pytest.raises(ConfigError):
        create_app({**TEST_OVERRIDES, "APP_ENV": "production", "SECRET_KEY": DEV_SECRET_KEY})


# --- health --------------------------------------------------------------------------------

def test_health_ok(client, app):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["redis"] == ("ok" if app.config["REDIS_URL"] else "embedded")
    assert body["version"]


def test_health_reports_database_down(tmp_path_factory):
    from app import create_app

    app = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/none",
                      "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": None})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "down"


def test_health_reports_redis_down(tmp_path_factory, app):
    from app import create_app

    broken = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = broken.test_client().get("/health")
    assert response.status_code == 200  # the portal still serves: bookings go on without Redis
    assert response.get_json()["redis"] == "down"
    assert response.get_json()["status"] == "degraded"


# --- roles ---------------------------------------------------------------------------------

PUBLIC_ENDPOINTS = re.compile(
    r"^(static|appbuilder\.static|health\.|AuthDBView\.|RegisterUserDBView\.|SecurityApi\.|"
    r"PortalIndexView\.index|UtilView\.back|LocaleView\.|SwaggerView\.|OpenApi\.|"
    r"payments\.|Parent|Portal[A-Za-z]*Api\.|"
    # Public on purpose: the accessibility statement, the desk invitation's claim page (its token is
    # the key), PayFiP's return and notification (checked with PayFiP itself), the animator pages'
    # service worker script (no data, only code that must be fetchable to install), the household's
    # calendar feed (phones' calendar apps cannot log in: its secret token is the key).
    r"PrivacyView\.|AccessibilityView\.|InvitationClaimView\.|payfip\.|AnimatorPagesView\.service_worker$|"
    r"CalendarFeedView\.)")
SELF_SERVICE_ENDPOINTS = re.compile(r"^(ResetMyPasswordView|UserInfoEditView|UserDBModelView\.userinfo)")


def _staff_routes(app):
    """Every staff and security route, with its placeholders filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if PUBLIC_ENDPOINTS.match(rule.endpoint) or SELF_SERVICE_ENDPOINTS.match(rule.endpoint):
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            routes.append((method, url, rule.endpoint))
    return routes


def test_parent_gets_403_on_every_staff_and_security_view(app, factory, login):
    family = factory.household()
    client = login(app.test_client(), family.email)
    routes = _staff_routes(app)
    assert len(routes) > 50
    answers = {(m, u): (client.get(u) if m == "GET" else client.post(u)).status_code for m, u, _ in routes}
    # 404: unknown action name; 400: action_post without a chosen action. Never a page, never a 500.
    allowed = {key: status for key, status in answers.items() if status not in (400, 403, 404)}
    assert allowed == {}
    assert list(answers.values()).count(403) > 50


SECURITY_URLS = ["/users/list/", "/roles/list/", "/users/add", "/roles/add", "/permissions/list/",
                 "/viewmenus/list/", "/permissionviews/list/", "/registeruser/list/", "/userstatschartview/chart/"]


def test_staff_cannot_administer_users_or_roles(app, factory, login):
    agent = factory.staff()
    client = login(app.test_client(), agent.email)
    assert {url: client.get(url).status_code for url in SECURITY_URLS} == {url: 403 for url in SECURITY_URLS}


def test_staff_manage_the_catalogue_in_french(app, factory, login):
    factory.catalog(name="ALSH Les Explorateurs")
    agent = factory.staff()
    client = login(app.test_client(), agent.email)
    page = client.get("/establishmentview/list/").get_data(as_text=True)
    assert "ALSH Les Explorateurs" in page
    assert "Établissements" in page and "Âge minimum" in page
    for url in ["/periodview/list/", "/weekview/list/", "/tariffbracketview/list/", "/circuitview/list/",
                "/stopview/list/", "/householdview/list/", "/childview/list/", "/establishmentview/add"]:
        assert client.get(url).status_code == 200, url


def test_admin_reaches_user_administration(app, factory, login):
    admin = factory.admin()
    client = login(app.test_client(), admin.email)
    assert client.get("/users/list/").status_code == 200
    assert client.get("/roles/list/").status_code == 200


def test_anonymous_is_sent_to_login(client):
    response = client.get("/establishmentview/list/")
    assert response.status_code in (302, 401, 403)
    assert client.get("/").status_code == 302


def test_sync_roles_is_idempotent(app):
    from app.models import db
    from app.security import sync_roles

    with app.app_context():
        first = sync_roles(app.appbuilder)
        count = db.session.execute(text("SELECT count(*) FROM ab_permission_view_role")).scalar()
        second = sync_roles(app.appbuilder)
        assert first == second
        assert db.session.execute(text("SELECT count(*) FROM ab_permission_view_role")).scalar() == count


# --- French --------------------------------------------------------------------------------

def test_login_page_is_french(client):
    page = client.get("/login/").get_data(as_text=True)
    assert "Connexion" in page and "Mot de passe" in page
    assert "Sign In" not in page and "S'enregistrer" not in page


def test_wrong_password_message_is_french(client, factory):
    family = factory.household()
    page = client.post("/login/", data={"username": family.email, "password": "faux"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect" in page


def test_list_screens_are_french(app, factory, login):
    factory.catalog()
    client = login(app.test_client(), factory.staff().email)
    page = client.get("/weekview/list/").get_data(as_text=True)
    for word in ["Rechercher", "Ajouter"]:
        assert word in page
    for english in [">Search<", ">Add<", "Record Count"]:
        assert english not in page


def test_csrf_is_enforced_when_enabled(app, tmp_path_factory):
    strict = build_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory, WTF_CSRF_ENABLED=True)
    response = strict.test_client().post("/login/", data={"username": "x@example.test", "password": "x"})
    assert response.status_code == 400


# --- model constraints ---------------------------------------------------------------------

def test_negative_capacity_is_refused(app, factory):
    from app.models import Week, db

    catalog = factory.catalog()
    with app.app_context():
        week = db.session.get(Week, catalog.week_ids[0])
        week.capacity = -1
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def _basket(household_id, status="open"):
    from app.models import Basket, utcnow

    return Basket(household_id=household_id, status=status, expires_at=utcnow() + timedelta(hours=1))


def _line(basket, household_id, child_id, week_id, status="held"):
    from app.models import Reservation

    return Reservation(basket=basket, household_id=household_id, child_id=child_id, week_id=week_id,
                       status=status, transport_mode="onsite", hold_expires_at=basket.expires_at)


def test_a_child_cannot_have_two_live_reservations_for_one_week(app, factory):
    from app.models import db

    catalog = factory.catalog()
    family = factory.household()
    other = factory.household()
    factory.link_child(other.id, family.child_ids[0])
    child, week = family.child_ids[0], catalog.week_ids[0]
    with app.app_context():
        db.session.add(_line(_basket(family.id, "paid"), family.id, child, week, "confirmed"))
        db.session.commit()
        db.session.add(_line(_basket(other.id), other.id, child, week, "held"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_ended_reservations_do_not_block_a_new_one(app, factory):
    from app.models import Reservation, db

    catalog = factory.catalog()
    family = factory.household()
    child, week = family.child_ids[0], catalog.week_ids[0]
    with app.app_context():
        for status in ("expired", "removed", "cancelled"):
            db.session.add(_line(_basket(family.id, "expired"), family.id, child, week, status))
        db.session.commit()
        db.session.add(_line(_basket(family.id), family.id, child, week, "held"))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Reservation)) == 4


def test_one_open_basket_per_household(app, factory):
    from app.models import db

    family = factory.household()
    with app.app_context():
        db.session.add(_basket(family.id))
        db.session.commit()
        db.session.add(_basket(family.id, "checkout"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_bus_line_needs_a_stop(app, factory):
    from app.models import db

    catalog = factory.catalog()
    family = factory.household()
    with app.app_context():
        line = _line(_basket(family.id), family.id, family.child_ids[0], catalog.week_ids[0])
        line.transport_mode = "bus"
        db.session.add(line)
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_timestamps_are_timezone_aware_utc(app, factory):
    from app.models import Period, db

    catalog = factory.catalog()
    with app.app_context():
        db.session.expire_all()
        period = db.session.get(Period, catalog.period_id)
        assert period.opens_at.tzinfo is not None
        assert period.opens_at.utcoffset() == timedelta(0)


# --- migrations ----------------------------------------------------------------------------

def _upgrade_and_compare(database_url, tmp_path_factory):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from app import create_app
    from app.models import db

    app = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": None})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
            tables = set(inspect(conn).get_table_names())
            if conn.dialect.name == "postgresql":  # the opening-day hold function (issue 21)
                functions = conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'pf\\_%'")).scalars()
                tables |= {f"function:{name}" for name in functions}
        db.session.remove()
        db.engine.dispose()
    return diff, tables


def test_migrations_build_the_schema_from_empty_on_sqlite(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('mig') / 'fresh.db'}"
    diff, tables = _upgrade_and_compare(url, tmp_path_factory)
    assert {"household", "reservation", "payment", "audit_log", "mail_log", "ab_user"} <= tables
    assert diff == []


@pytest.mark.postgres
def test_migrations_build_the_schema_from_empty_on_postgresql(pg_admin_url, tmp_path_factory):
    import uuid

    from sqlalchemy import create_engine

    name = f"pf_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        diff, tables = _upgrade_and_compare(f"{pg_admin_url.rsplit('/', 1)[0]}/{name}", tmp_path_factory)
        assert {"household", "reservation", "payment", "ab_user", "function:pf_hold_v2"} <= tables
        assert diff == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- demo data -----------------------------------------------------------------------------

def _row_counts(db):
    return {t.name: db.session.execute(select(func.count()).select_from(t)).scalar() for t in db.metadata.sorted_tables}


def test_seed_demo_is_idempotent_and_logs_in(app):
    from app.models import db
    from app.services.demo import DEMO_PASSWORD, seed_demo

    with app.app_context():
        seed_demo(app.appbuilder)
        first = _row_counts(db)
        seed_demo(app.appbuilder)
        assert _row_counts(db) == first
        assert first["household"] == 3 and first["establishment"] == 3
    client = app.test_client()
    for email, landing in [("admin@demo.test", 200), ("parent@demo.test", 302)]:
        c = app.test_client()
        assert c.post("/login/", data={"username": email, "password": DEMO_PASSWORD}).status_code == 302
        assert c.get("/").status_code == landing
    assert client is not None


def test_seed_demo_models_the_guide(app):
    from app.models import Child, Household, HouseholdChild, Period, Stop, db, utcnow
    from app.services.demo import seed_demo

    with app.app_context():
        seed_demo(app.appbuilder)
        now = utcnow()
        periods = db.session.query(Period).all()
        assert any(p.opens_at <= now < p.closes_at for p in periods)
        assert any(p.opens_at > now for p in periods)
        assert any(p.closes_at < now for p in periods)
        assert db.session.query(Stop).count() >= 4 * 3
        hugo = db.session.query(Child).filter_by(first_name="Hugo").one()
        links = db.session.query(HouseholdChild).filter_by(child_id=hugo.id).all()
        assert len(links) == 2  # one child, two households (separated parents)
        statuses = {h.email: h.status for h in db.session.query(Household)}
        assert statuses == {"parent@demo.test": "validated", "separe@demo.test": "validated",
                            "nouveau@demo.test": "submitted"}
