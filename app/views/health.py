"""GET /health: is the portal able to serve? 200 when the database answers, 503 when not."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.models import db
from app.services.tasks import redis_status

log = logging.getLogger(__name__)
health_bp = Blueprint("health", __name__)


@health_bp.get("/health")
def health():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any driver error means "down" here
        log.error("health: database down: %s", exc.__class__.__name__)
        db.session.rollback()
        database = "down"
    redis = redis_status()
    body = {
        "status": "ok" if database == "ok" and redis != "down" else ("degraded" if database == "ok" else "down"),
        "database": database,
        "redis": redis,
        "version": current_app.config["VERSION"],
    }
    return jsonify(body), 200 if database == "ok" else 503
