"""« Mon agenda »: the household's private calendar link (ICS) of its confirmed weeks.

/famille/agenda              the link (once asked for), how to add it to a phone, renew it
/famille/agenda/creer        POST: create the link
/famille/agenda/renouveler   POST: a new link; the previous one stops working
/agenda/<token>.ics          the feed itself, public on purpose: phones' calendar apps cannot log
                             in, the long random token in the address is the key (unknown → 404)
"""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.booking import calendar
from app.views.helpers import household_required

ICS_TYPE = "text/calendar; charset=utf-8"


class ParentCalendarView(BaseView):
    route_base = "/famille/agenda"
    default_view = "show"

    @expose("/")
    @expose("")
    @has_access
    @household_required
    def show(self, household):
        token = calendar.feed_token(household.id)
        url = calendar.feed_url(token) if token else None
        webcal = "webcal://" + url.split("://", 1)[1] if url else None
        return self.render_template("parent/calendar/show.html", url=url, webcal=webcal)

    @expose("/creer", methods=["POST"])
    @has_access
    @household_required
    def create(self, household):
        calendar.ensure_feed_token(household.id, actor=g.user)
        flash(_("Votre lien d'agenda est prêt : ajoutez-le à l'agenda de votre téléphone."), "success")
        return redirect(url_for(".show"))

    @expose("/renouveler", methods=["POST"])
    @has_access
    @household_required
    def renew(self, household):
        calendar.renew_feed_token(household.id, actor=g.user)
        flash(_("Nouveau lien créé : l'ancien ne fonctionne plus. Ajoutez le nouveau à votre agenda."), "success")
        return redirect(url_for(".show"))


class CalendarFeedView(BaseView):
    """The ICS feed, reached by its secret address only (no permission declared: public)."""

    route_base = "/agenda"

    @expose("/<string:token>.ics")
    def feed(self, token: str):
        household_id = calendar.household_for_token(token)
        if household_id is None:
            abort(404)
        response = current_app.response_class(calendar.household_calendar(household_id), mimetype="text/calendar")
        response.headers["Content-Type"] = ICS_TYPE
        response.headers["Content-Disposition"] = 'inline; filename="inscriptions.ics"'
        response.headers["Cache-Control"] = "private, max-age=900"
        response.headers["X-Robots-Tag"] = "noindex"
        return response


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentCalendarView())
    appbuilder.add_view_no_menu(CalendarFeedView())
