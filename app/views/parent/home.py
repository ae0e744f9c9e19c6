"""The parent area's home page (/famille/): the file's status, exactly what is missing, the children,
and the booking entry point — disabled, with the reason, until the file is validated (FAQ 1–3)."""
from __future__ import annotations

from flask import g
from flask_appbuilder import BaseView, expose, has_access

from app.services.household import checklist, dossier
from app.services.household.links import household_for_user


class ParentHomeView(BaseView):
    route_base = "/famille"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        household = household_for_user(g.user)
        if household is None:
            return self.render_template("parent/home.html", household=None,
                                        block_reason=dossier.booking_block_reason(None)), 404
        items = checklist.evaluate(household)
        links = checklist.active_links(household)
        refused_links = [link for link in household.child_links if link not in links]
        return self.render_template(
            "parent/home.html",
            household=household,
            status_label=dossier.status_label(household),
            items=items,
            missing=[item for item in items if not item.done],
            links=links,
            refused_links=refused_links,
            can_see=dossier.can_see_child_details,
            link_labels=dossier.LINK_LABELS,
            reasons=dossier.incomplete_reasons(household),
            block_reason=dossier.booking_block_reason(household),
        )


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentHomeView())
