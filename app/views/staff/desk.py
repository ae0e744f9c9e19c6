"""Desk booking (staff book for a family and take the money) and the move / cancel forms of a
reservation. Thin over app.services.operations.desk; every change is a POST with a CSRF token, told to
the agent in French, and audited by the services."""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_appbuilder import BaseView, expose, has_access

from app.models import ReservationStatus, db
from app.services.booking import basket as basket_service
from app.services.operations import desk as operations
from app.services.errors import ServiceError

from .ops_helpers import int_arg, today_paris

CATEGORY = "Guichet"

STATUS_FR = {"held": "Dans un panier (non payé)", "confirmed": "Confirmée", "expired": "Expirée",
             "removed": "Retirée du panier", "cancelled": "Annulée"}


def _error(exc: ServiceError) -> None:
    db.session.rollback()
    flash(exc.message, "danger")


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
    def household(self, household_id: int):
        try:
            household, links = operations.desk_household(household_id)
        except ServiceError:
            abort(404)
        child_id, week_id = int_arg("child_id"), int_arg("week_id")
        weeks = operations.desk_weeks(today_paris())
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
            booked=booked, methods=operations.desk_methods(),
            title=_("Guichet — %(name)s", name=household.name))

    @expose("/foyer/<int:household_id>/ajouter", methods=["POST"])
    @has_access
    def add(self, household_id: int):
        child_id, week_id = int_arg("child_id", request.form), int_arg("week_id", request.form)
        transport = operations.parse_transport_choice(request.form.get("transport"))
        back = url_for(".household", household_id=household_id, child_id=child_id, week_id=week_id)
        if not child_id or not week_id:
            flash(_("Choisissez l'enfant et la semaine."), "danger")
            return redirect(back)
        if transport is None:
            flash(_("Choisissez le transport : un arrêt de bus ou l'accueil sur site."), "danger")
            return redirect(back)
        try:
            operations.desk_add_line(household_id, child_id, week_id, transport, actor=g.user)
        except ServiceError as exc:
            _error(exc)
            return redirect(back)
        flash(_("Semaine ajoutée au panier de la famille : la place est réservée jusqu'au paiement."), "success")
        return redirect(url_for(".household", household_id=household_id, child_id=child_id))

    @expose("/foyer/<int:household_id>/retirer/<int:line_id>", methods=["POST"])
    @has_access
    def remove(self, household_id: int, line_id: int):
        try:
            operations.desk_remove_line(household_id, line_id, actor=g.user)
            flash(_("Semaine retirée du panier."), "success")
        except ServiceError as exc:
            _error(exc)
        return redirect(url_for(".household", household_id=household_id))

    @expose("/foyer/<int:household_id>/payer", methods=["POST"])
    @has_access
    def pay(self, household_id: int):
        method = (request.form.get("method") or "").strip()
        if method not in operations.desk_methods():
            flash(_("Choisissez le moyen de paiement."), "danger")
            return redirect(url_for(".household", household_id=household_id))
        try:
            result = operations.desk_pay(household_id, method, actor=g.user)
        except ServiceError as exc:
            _error(exc)
            return redirect(url_for(".household", household_id=household_id))
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
    def show(self, reservation_id: int):
        try:
            line = operations.reservation_detail(reservation_id)
        except ServiceError:
            abort(404)
        weeks = operations.period_weeks(line.week.period_id)
        transports = operations.transport_choices(line.week_id)[1]
        return self.render_template("staff/operations/reservation.html", line=line, weeks=weeks,
                                    transports=transports, status_fr=STATUS_FR,
                                    confirmed=line.status == ReservationStatus.CONFIRMED,
                                    title=_("Inscription n° %(id)s", id=line.id))

    @expose("/<int:reservation_id>/deplacer", methods=["POST"])
    @has_access
    def move(self, reservation_id: int):
        week_id = int_arg("week_id", request.form)
        raw_transport = request.form.get("transport") or ""
        transport = None
        if raw_transport and raw_transport != "same":
            transport = operations.parse_transport_choice(raw_transport)
            if transport is None:
                flash(_("Transport inconnu : choisissez un arrêt dans la liste ou l'accueil sur site."), "danger")
                return redirect(url_for(".show", reservation_id=reservation_id))
        try:
            operations.move_reservation(reservation_id, week_id=week_id, transport=transport, actor=g.user)
        except ServiceError as exc:
            _error(exc)
            if exc.code == "not_found":
                abort(404)
            return redirect(url_for(".show", reservation_id=reservation_id))
        flash(_("Inscription modifiée ; la famille est prévenue par courriel."), "success")
        return redirect(url_for(".show", reservation_id=reservation_id))

    @expose("/<int:reservation_id>/annuler", methods=["POST"])
    @has_access
    def cancel(self, reservation_id: int):
        refund = request.form.get("refund") in ("1", "on", "y")
        try:
            operations.cancel_reservation(reservation_id, reason=request.form.get("reason") or "", refund=refund,
                                          actor=g.user)
        except ServiceError as exc:
            _error(exc)
            if exc.http_status == 404:
                abort(404)
            return redirect(url_for(".show", reservation_id=reservation_id))
        flash(_("Inscription annulée : la place est libérée et le remboursement est lancé.") if refund
              else _("Inscription annulée : la place est libérée."), "success")
        return redirect(url_for(".show", reservation_id=reservation_id))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffDeskView, "Inscription au guichet", href="/guichet/", icon="fa-handshake-o",
                        category=CATEGORY, category_icon="fa-desktop")
    appbuilder.add_view_no_menu(StaffReservationView)
