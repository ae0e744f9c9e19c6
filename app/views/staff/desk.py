"""Desk booking (staff book for a family and take the money) and the move / cancel forms of a
reservation. Thin over app.services.operations.desk; every change is a POST with a CSRF token, told to
the agent in French, and audited by the services."""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import ReservationStatus
from app.services.booking import basket as basket_service
from app.services.errors import ServiceError
from app.services.localize import RESERVATION_STATUS_LABELS
from app.services.operations import desk as operations
from app.services.payments import credits
from app.views.helpers import service_errors

from .cancellations import CANCEL_DONE, cancel_outcome
from .ops_helpers import int_arg, paris_today

CATEGORY = "Guichet"


def _desk_form(household_id: int) -> str:
    """The family's desk page with the child and week the agent had chosen, to try again."""
    return url_for(".household", household_id=household_id, child_id=int_arg("child_id", request.form),
                   week_id=int_arg("week_id", request.form))


class StaffDeskView(BaseView):
    """Guichet: find the family, add weeks to its basket, record the payment taken at the desk."""

    route_base = "/guichet"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        text = (request.args.get("q") or "").strip()[:100]
        households = operations.find_households(text) if text else []
        return self.render_template("staff/operations/desk_search.html", q=text, households=households,
                                    title=_("Inscription au guichet"))

    @expose("/foyer/<int:household_id>")
    @has_access
    @service_errors(".index")
    def household(self, household_id: int):
        household, links = operations.desk_household(household_id)
        child_id, week_id = int_arg("child_id"), int_arg("week_id")
        weeks = operations.desk_weeks(paris_today())
        chosen_week, transports = None, []
        if week_id:
            try:
                chosen_week, transports = operations.transport_choices(week_id)
            except ServiceError as exc:
                flash(exc.message, "warning")
        summary = basket_service.basket_summary(household_id)
        booked = basket_service.reservations(household_id)
        return self.render_template(
            "staff/operations/desk_household.html", household=household, links=links, weeks=weeks,
            child_id=child_id, week_id=week_id, chosen_week=chosen_week, transports=transports, summary=summary,
            booked=booked, methods=operations.desk_methods(), credit_cents=credits.available_credit(household_id),
            title=_("Guichet — %(name)s", name=household.name))

    @expose("/foyer/<int:household_id>/ajouter", methods=["POST"])
    @has_access
    @service_errors(_desk_form, not_found=False)
    def add(self, household_id: int):
        child_id, week_id = int_arg("child_id", request.form), int_arg("week_id", request.form)
        transport = operations.parse_transport_choice(request.form.get("transport"))
        back = _desk_form(household_id)
        if not child_id or not week_id:
            flash(_("Choisissez l'enfant et la semaine."), "danger")
            return redirect(back)
        if transport is None:
            flash(_("Choisissez le transport : un arrêt de bus ou l'accueil sur site."), "danger")
            return redirect(back)
        operations.desk_add_line(household_id, child_id, week_id, transport, actor=g.user)
        flash(_("Semaine ajoutée au panier de la famille : la place est réservée jusqu'au paiement."), "success")
        return redirect(url_for(".household", household_id=household_id, child_id=child_id))

    @expose("/foyer/<int:household_id>/retirer/<int:line_id>", methods=["POST"])
    @has_access
    @service_errors(".household", not_found=False)
    def remove(self, household_id: int, line_id: int):
        operations.desk_remove_line(household_id, line_id, actor=g.user)
        flash(_("Semaine retirée du panier."), "success")
        return redirect(url_for(".household", household_id=household_id))

    @expose("/foyer/<int:household_id>/payer", methods=["POST"])
    @has_access
    @service_errors(".household", not_found=False)
    def pay(self, household_id: int):
        method = (request.form.get("method") or "").strip()
        if method not in operations.desk_methods():
            flash(_("Choisissez le moyen de paiement."), "danger")
            return redirect(url_for(".household", household_id=household_id))
        result = operations.desk_pay(household_id, method, actor=g.user)
        if result.confirmed:
            flash(_("Paiement enregistré (%(method)s) : les inscriptions sont confirmées.",
                    method=operations.desk_methods()[method]), "success")
        else:
            flash(_("Le paiement n'a pas pu confirmer les inscriptions : les places n'étaient plus libres. "
                    "Le paiement est signalé pour remboursement."), "warning")
        return redirect(url_for(".household", household_id=household_id))


class StaffReservationView(BaseView):
    """One reservation: details, move to another week or stop, cancel with a reason."""

    route_base = "/operations/inscription"
    default_view = "show"

    @expose("/<int:reservation_id>")
    @has_access
    @service_errors("StaffDeskView.index")
    def show(self, reservation_id: int):
        line = operations.reservation_detail(reservation_id)
        weeks = operations.period_weeks(line.week.period_id)
        transports = operations.transport_choices(line.week_id)[1]
        return self.render_template("staff/operations/reservation.html", line=line, weeks=weeks,
                                    transports=transports, status_fr=RESERVATION_STATUS_LABELS,
                                    confirmed=line.status == ReservationStatus.CONFIRMED,
                                    title=_("Inscription n° %(id)s", id=line.id))

    @expose("/<int:reservation_id>/deplacer", methods=["POST"])
    @has_access
    @service_errors(".show")
    def move(self, reservation_id: int):
        week_id = int_arg("week_id", request.form)
        raw_transport = request.form.get("transport") or ""
        transport = None
        if raw_transport and raw_transport != "same":
            transport = operations.parse_transport_choice(raw_transport)
            if transport is None:
                flash(_("Transport inconnu : choisissez un arrêt dans la liste ou l'accueil sur site."), "danger")
                return redirect(url_for(".show", reservation_id=reservation_id))
        operations.move_reservation(reservation_id, week_id=week_id, transport=transport, actor=g.user)
        flash(_("Inscription modifiée ; la famille est prévenue par courriel."), "success")
        return redirect(url_for(".show", reservation_id=reservation_id))

    @expose("/<int:reservation_id>/annuler", methods=["POST"])
    @has_access
    @service_errors(".show")
    def cancel(self, reservation_id: int):
        outcome = cancel_outcome(request.form)
        operations.cancel_reservation(reservation_id, reason=request.form.get("reason") or "", outcome=outcome,
                                      actor=g.user)
        flash(_(CANCEL_DONE[outcome]), "success")
        return redirect(url_for(".show", reservation_id=reservation_id))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffDeskView, "Inscription au guichet", href="/guichet/", icon="fa-handshake-o",
                        category=CATEGORY, category_icon="fa-desktop")
    appbuilder.add_view_no_menu(StaffReservationView)
