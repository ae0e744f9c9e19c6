"""Application factory: settings, database, Flask-AppBuilder, views, API, jobs and CLI."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from config import Config, check_production, ensure_secret_key

log = logging.getLogger(__name__)


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config)
    if overrides:
        app.config.update(overrides)
    check_production(app.config)
    ensure_secret_key(app.config)
    _compile_translations()
    _ensure_instance_dirs(app)
    _trust_proxies(app)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # FAB warns at every start about Time columns it cannot filter on; the catalogue handles them.
    logging.getLogger("flask_appbuilder.models.filters").setLevel(logging.ERROR)
    logging.getLogger("flask_appbuilder.forms").setLevel(logging.CRITICAL)

    from flask_appbuilder import AppBuilder

    from .extensions import csrf, migrate
    from .models import db
    from .security import PortalSecurityManager
    from .views.index import PortalIndexView

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    # Before AppBuilder: FAB exempts its REST API blueprints only if CSRFProtect is already there.
    csrf.init_app(app)

    from .services import tasks as job_queue

    with app.app_context():
        _configure_database(app, db)
        appbuilder = AppBuilder(
            security_manager_class=PortalSecurityManager,
            indexview=PortalIndexView,
            base_template=app.config["FAB_BASE_TEMPLATE"],
        )
        appbuilder.init_app(app, db.session)
        from .views import register_views

        register_views(appbuilder)
        job_queue.init_app(app)

    from .cli import register_cli
    from .views.filters import register_template_helpers
    from .views.hardening import register_hardening
    from .views.health import health_bp
    from .views.input_guard import register_input_guard

    app.register_blueprint(health_bp)
    register_template_helpers(app)
    register_input_guard(app)
    register_hardening(app)
    register_cli(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXY_HOPS reverse proxies, the client's address, scheme and host are the ones
    they forward: login throttling counts the family's address, not the proxy's. With 0 (the default)
    the X-Forwarded-* headers are ignored, since anyone can send them."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _compile_translations() -> None:
    """Build the French .mo from the committed .po when missing or older (no build step to forget)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    folder = Path(__file__).resolve().parent / "translations"
    for po_path in folder.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        tmp_path = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with tmp_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        tmp_path.replace(mo_path)


def _ensure_instance_dirs(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    Path(app.config["UPLOAD_DIR"]).mkdir(parents=True, exist_ok=True)


def _configure_database(app: Flask, db) -> None:
    """Backend tuning that the capacity locking relies on (see DESIGN.md §4)."""
    from sqlalchemy import event

    engine = db.engine
    lock_timeout_ms = int(app.config["LOCK_TIMEOUT_SECONDS"] * 1000)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Autocommit mode at the driver level so that SQLAlchemy's BEGIN is the one we emit.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA busy_timeout = {lock_timeout_ms}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn):
            # Writers are serialised from the first statement: no lost update, no upgrade deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif engine.dialect.name == "postgresql":
        @event.listens_for(engine, "connect")
        def _pg_timeouts(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute(f"SET lock_timeout = {lock_timeout_ms}")
            cur.execute("SET TIME ZONE 'UTC'")
            cur.close()
            dbapi_conn.commit()
