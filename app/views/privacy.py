"""« Données personnelles » (GDPR, issue 19): who processes the families' data, why, for how long,
their rights and whom to contact. Public (no permission declared: app.security classifies it
PUBLIC): it is read before signing up too, and its link sits in the parent footer."""
from __future__ import annotations

from flask import current_app
from flask_appbuilder import BaseView, expose

from app.services.operations.privacy import retention_years
from app.services.payments.organiser import get_organiser


class PrivacyView(BaseView):
    route_base = "/donnees-personnelles"
    default_view = "notice"

    @expose("/")
    def notice(self):
        return self.render_template("public/privacy.html", organiser=get_organiser(), years=retention_years(),
                                    dpo_email=current_app.config.get("PRIVACY_EMAIL")
                                    or current_app.config.get("POLE_EMAIL"))


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(PrivacyView())
