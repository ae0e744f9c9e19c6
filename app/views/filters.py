"""Jinja filters: the French formatting of `app.services.localize`, for templates."""
from __future__ import annotations

from flask import Flask

from app.services.contact import pole_contact
from app.services.localize import PARIS, date_fr, datetime_fr, euros, to_paris

__all__ = ["PARIS", "date_fr", "datetime_fr", "euros", "register_template_helpers", "to_paris"]


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters.update(euros=euros, date_fr=date_fr, datetime_fr=datetime_fr, paris=to_paris)
    # The Pôle Jeunesse's phone, e-mail and hours (settings), for the footer and the error pages.
    app.jinja_env.globals["pole_contact"] = pole_contact
