"""The parent booking flow (seed guide steps 2–5), phone-first, thin over the booking services.

/famille/inscrire                              choose the child
/famille/inscrire/<child>                      establishments open to the child, the others with their reason
/famille/inscrire/<child>/periode/<period>     weeks (places left) and, per week, bus stop or on-site
/famille/panier                                lines, prices, total, countdown, "Valider mon panier"
/famille/inscriptions                          confirmed weeks, stop changes until the deadline

Every id in a URL or form goes through a service scoped to the current household: another
household's child, period choice or line is a 404, never data.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext

from app.models import TransportMode
from app.services.booking import basket as basket_service
from app.services.booking import eligibility, waitlist
from app.services.booking.price_preview import period_prices
from app.services.errors import NotFound, ServiceError
from app.views.filters import datetime_fr
from app.views.helpers import household_required, parse_id, service_errors

TRANSPORT_REQUIRED = lazy_gettext("Choisissez le bus (circuit et arrêt) ou l'accueil sur site pour cette semaine.")


def _transport_from_form(value: str | None) -> dict | None:
    """Form value "onsite" or "stop-<id>" → the service's transport dict (None when not chosen)."""
    value = (value or "").strip()
    if value == TransportMode.ONSITE:
        return {"mode": TransportMode.ONSITE}
    stop_id = parse_id(value[5:]) if value.startswith("stop-") else None
    if stop_id is not None:
        return {"mode": TransportMode.BUS, "stop_id": stop_id}
    return None


class ParentBookingView(BaseView):
    """Choose a child, an establishment and period, weeks and their transport; lines go to the basket."""

    route_base = "/famille/inscrire"
    default_view = "children"

    @expose("/")
    @expose("")
    @has_access
    @household_required
    def children(self, household):
        children = eligibility.household_children(household.id)
        blocking = eligibility.household_reason(household)
        summary = basket_service.basket_summary(household.id)
        return self.render_template("parent/booking/children.html", household=household, children=children,
                                    blocking=blocking, summary=summary)

    @expose("/<int:child_id>")
    @has_access
    @household_required
    @service_errors(".children")
    def offers(self, household, child_id: int):
        result = eligibility.offers(household.id, child_id)
        summary = basket_service.basket_summary(household.id)
        return self.render_template("parent/booking/offers.html", offers=result, summary=summary)

    @expose("/<int:child_id>/periode/<int:period_id>", methods=["GET", "POST"])
    @has_access
    @household_required
    @service_errors(".children")
    def weeks(self, household, child_id: int, period_id: int):
        result = eligibility.offers(household.id, child_id)
        found = result.period(period_id)
        if found is None:
            abort(404)
        establishment_offer, period_offer = found
        chosen: set[int] = set()
        transports: dict[int, str] = {}
        errors: dict[int, str] = {}
        form_error = None
        if request.method == "POST":
            offered = {w.week.id for w in period_offer.weeks}
            chosen = {week_id for week_id in map(parse_id, request.form.getlist("week")) if week_id in offered}
            transports = {week_id: request.form.get(f"transport-{week_id}", "") for week_id in offered}
            if not chosen:
                form_error = _("Cochez au moins une semaine.")
            for week_id in sorted(chosen):
                if _transport_from_form(transports.get(week_id)) is None:
                    errors[week_id] = str(TRANSPORT_REQUIRED)
            if not form_error and not errors:
                added = []
                for week_id in sorted(chosen):
                    try:
                        basket_service.add_line(household.id, child_id, week_id,
                                                _transport_from_form(transports[week_id]), actor=g.user)
                        added.append(week_id)
                    except ServiceError as exc:
                        errors[week_id] = exc.message
                if added:
                    summary = basket_service.basket_summary(household.id)
                    until = summary.get("expires_at_dt")
                    flash(ngettext("%(num)d semaine ajoutée à votre panier. Sa place est réservée jusqu'au "
                                   "%(until)s : validez et payez votre panier avant.",
                                   "%(num)d semaines ajoutées à votre panier. Les places sont réservées jusqu'au "
                                   "%(until)s : validez et payez votre panier avant.",
                                   len(added), until=datetime_fr(until)), "success")
                if not errors:
                    # The children page answers with and without the final slash; links name it without
                    # (its canonical URL), the landing after adding weeks has always been the "/" form.
                    return redirect(f"{url_for('.children').rstrip('/')}/?{urlencode({'ajoute': child_id})}")
                chosen -= set(added)
                # Show the weeks again with fresh availability; keep what the parent chose for the others.
                result = eligibility.offers(household.id, child_id)
                establishment_offer, period_offer = result.period(period_id)
        prices, week_prices = period_prices(household, period_offer.period, [w.week for w in period_offer.weeks])
        # A full week (or a full bus) leads to its waiting list; a week the child already waits for says so.
        lists = waitlist.child_week_states(household.id, child_id, [w.week for w in period_offer.weeks])
        page = self.render_template("parent/booking/weeks.html", offers=result, establishment=establishment_offer,
                                    period=period_offer, chosen=chosen, transports=transports, errors=errors,
                                    form_error=form_error, prices=prices, week_prices=week_prices, lists=lists)
        return page, (400 if (errors or form_error) else 200)


class ParentBasketView(BaseView):
    """The basket: lines, prices, total, a countdown to the hold's end; remove a line; go to payment."""

    route_base = "/famille/panier"
    default_view = "basket"

    @expose("")
    @expose("/")
    @has_access
    @household_required
    def basket(self, household):
        summary = basket_service.basket_summary(household.id)
        return self.render_template("parent/booking/basket.html", summary=summary)

    @expose("/retirer/<int:line_id>", methods=["POST"])
    @has_access
    @household_required
    @service_errors(".basket")
    def remove(self, household, line_id: int):
        basket_service.remove_line(household.id, line_id, actor=g.user)
        flash(_("La semaine a été retirée de votre panier : sa place est libérée."), "success")
        return redirect(url_for(".basket"))


class ParentReservationsView(BaseView):
    """"Mes inscriptions": confirmed weeks with transport and price; stop change until the deadline."""

    route_base = "/famille/inscriptions"
    default_view = "reservations"

    @expose("")
    @expose("/")
    @has_access
    @household_required
    def reservations(self, household):
        return self._render(household.id)

    def _render(self, household_id: int, errors: dict[int, str] | None = None, status: int = 200):
        rows = basket_service.reservations(household_id)
        for row in rows:
            deadline = row["period"]["stop_change_deadline"]
            row["deadline_dt"] = datetime.fromisoformat(deadline) if deadline else None
        options = basket_service.transport_options({row["period"]["id"] for row in rows})
        baskets = sorted({row["basket_id"] for row in rows})
        return self.render_template("parent/booking/reservations.html", rows=rows, options=options,
                                    baskets=baskets, errors=errors or {}), status

    @expose("/<int:line_id>/arret", methods=["POST"])
    @has_access
    @household_required
    def change_stop(self, household, line_id: int):
        transport = _transport_from_form(request.form.get("transport"))
        if transport is None or transport["mode"] != TransportMode.BUS:
            return self._render(household.id, {line_id: _("Choisissez un arrêt dans la liste.")}, 400)
        try:
            basket_service.change_stop(household.id, line_id, transport, actor=g.user)
        except NotFound:
            abort(404)
        except ServiceError as exc:
            return self._render(household.id, {line_id: exc.message}, 409 if exc.http_status == 409 else 400)
        flash(_("L'arrêt de bus a été modifié."), "success")
        return redirect(url_for(".reservations"))


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentBookingView())
    appbuilder.add_view_no_menu(ParentBasketView())
    appbuilder.add_view_no_menu(ParentReservationsView())
