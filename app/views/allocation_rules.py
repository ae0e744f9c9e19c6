"""« Règles d'attribution » of a period opened by wishes (issue 15): the priority criteria with their
points, when they were frozen, how ties are drawn and, once published, the values anyone needs to
recompute the draw.

Public (no permission declared: app.security classifies it PUBLIC): families read the rules before
ranking their wishes, and anyone may check a published draw without an account.
"""
from __future__ import annotations

from flask import abort
from flask_appbuilder import BaseView, expose

from app.models import utcnow
from app.services.booking import allocation_reads
from app.services.errors import NotFound


class AllocationRulesView(BaseView):
    route_base = "/regles-attribution"
    default_view = "rules"

    @expose("/<int:period_id>")
    def rules(self, period_id: int):
        try:
            data = allocation_reads.public_rules(period_id)
        except NotFound:
            abort(404)
        period = data["period"]
        frozen = period.wishes_open_at is not None and utcnow() >= period.wishes_open_at
        return self.render_template("public/allocation_rules.html", data=data, period=period, frozen=frozen)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(AllocationRulesView())
