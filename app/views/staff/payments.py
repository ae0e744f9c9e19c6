"""Staff payment screens: list and detail (provider references, notifications received, refunds,
flags), full or partial refund through the provider, cancellation of a confirmed week with or
without refund, "dealt with" on a flagged payment; plus read-only lists of baskets and
reservations. Thin over app.services.payments; every change is a CSRF-protected POST, audited by
the services."""
from __future__ import annotations

import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _

from app.models import Basket, Reservation, db
from app.services import payments
from app.services.localize import (
    BASKET_STATUS_LABELS,
    PAYMENT_METHOD_LABELS,
    PAYMENT_PROVIDER_LABELS,
    PAYMENT_STATUS_LABELS,
    REFUND_STATUS_LABELS,
    RESERVATION_STATUS_LABELS,
    TRANSPORT_MODE_LABELS,
)
from app.services.payments import regie
from app.services.payments import staff as staff_payments
from app.services.payments.invoices import credit_notes_of_basket, invoices_of_payment
from app.views.filters import euros
from app.views.helpers import parse_id, service_errors

from .cancellations import CANCEL_DONE, cancel_outcome
from .fields import FORMAT_DATETIME

CATEGORY = "Paiements"
LABELS = {"status_fr": PAYMENT_STATUS_LABELS, "provider_fr": PAYMENT_PROVIDER_LABELS,
          "method_fr": PAYMENT_METHOD_LABELS}


def parse_euros(text: str | None) -> int | None:
    """'12,50' / '12.5' / '12' / '12,50 €' → cents; None when it is not an amount (ASCII digits only:
    "\\d" would also take "٣" or "²")."""
    value = (text or "").replace("€", "").replace("\u00a0", "").replace(" ", "").replace(",", ".").strip()
    if not re.fullmatch(r"[0-9]{1,7}(\.[0-9]{1,2})?", value):
        return None
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


class StaffPaymentsView(BaseView):
    route_base = "/paiements"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        status = request.args.get("statut") or None
        flagged = request.args.get("signales") == "1"
        q = (request.args.get("q") or "").strip()[:100]
        rows = staff_payments.list_payments(status=status, flagged=flagged, q=q)
        return self.render_template("staff/payments/list.html", rows=rows, status=status, flagged=flagged, q=q,
                                    title="Paiements", **LABELS)

    @expose("/<int:payment_id>")
    @has_access
    @service_errors(".index")
    def show(self, payment_id: int):
        detail = staff_payments.payment_detail(payment_id)
        return self.render_template(
            "staff/payments/detail.html", d=detail, p=detail.payment, title=f"Paiement n° {payment_id}",
            refund_fr=REFUND_STATUS_LABELS, line_status_fr=RESERVATION_STATUS_LABELS, label=payments.line_label,
            invoices=invoices_of_payment(payment_id), credit_notes=credit_notes_of_basket(detail.payment.basket_id),
            payfip=regie.payment_references(detail.payment), **LABELS)

    @expose("/<int:payment_id>/rembourser", methods=["POST"])
    @has_access
    @service_errors(".show")
    def refund(self, payment_id: int):
        amount = parse_euros(request.form.get("amount"))
        if amount is None or amount <= 0:
            flash(_("Montant invalide : indiquez un montant en euros, par exemple 12,50."), "danger")
            return redirect(url_for(".show", payment_id=payment_id))
        row = payments.refund(payment_id, amount, request.form.get("reason") or "", actor=g.user)
        if row.status == "succeeded":
            flash(_("Remboursement de %(amount)s effectué.", amount=euros(amount)), "success")
        else:
            flash(_("Remboursement de %(amount)s enregistré : le service de paiement ne répond pas, "
                    "il sera relancé automatiquement.", amount=euros(amount)), "warning")
        return redirect(url_for(".show", payment_id=payment_id))

    @expose("/<int:payment_id>/inscription/<int:reservation_id>/annuler", methods=["POST"])
    @has_access
    @service_errors(".show")
    def cancel(self, payment_id: int, reservation_id: int):
        outcome = cancel_outcome(request.form)
        line = db.session.get(Reservation, reservation_id) if parse_id(reservation_id) else None
        payment = staff_payments.payment_detail(payment_id).payment
        if line is None or line.basket_id != payment.basket_id:
            abort(404)
        payments.cancel_reservation(reservation_id, reason=request.form.get("reason") or "", outcome=outcome,
                                    actor=g.user)
        flash(_(CANCEL_DONE[outcome]), "success")
        return redirect(url_for(".show", payment_id=payment_id))

    @expose("/<int:payment_id>/traite", methods=["POST"])
    @has_access
    @service_errors(".show")
    def resolve(self, payment_id: int):
        staff_payments.resolve_flag(payment_id, request.form.get("note") or "", actor=g.user)
        flash(_("Signalement marqué comme traité."), "success")
        return redirect(url_for(".show", payment_id=payment_id))


class BasketListView(ModelView):
    datamodel = SQLAInterface(Basket)
    base_permissions = ["can_list", "can_show"]
    list_title = show_title = "Paniers"
    label_columns = {"id": "N°", "household": "Foyer", "status": "État", "created_at": "Créé le",
                     "expires_at": "Places réservées jusqu'au", "confirmed_at": "Payé le", "expired_at": "Expiré le",
                     "created_by": "Créé au guichet par", "lines": "Lignes", "payments": "Paiements"}
    list_columns = ["id", "household", "status", "created_at", "expires_at", "confirmed_at"]
    show_columns = ["id", "household", "status", "created_at", "expires_at", "confirmed_at", "expired_at",
                    "created_by", "lines", "payments"]
    search_columns = ["household", "status", "created_at", "expires_at"]
    base_order = ("id", "desc")
    formatters_columns = {"status": lambda s: BASKET_STATUS_LABELS.get(s, s), "created_at": FORMAT_DATETIME,
                          "expires_at": FORMAT_DATETIME, "confirmed_at": FORMAT_DATETIME,
                          "expired_at": FORMAT_DATETIME}


class ReservationListView(ModelView):
    datamodel = SQLAInterface(Reservation)
    base_permissions = ["can_list", "can_show"]
    list_title = show_title = "Réservations"
    label_columns = {"id": "N°", "basket": "Panier", "household": "Foyer", "child": "Enfant", "week": "Semaine",
                     "status": "État", "transport_mode": "Transport", "circuit": "Circuit", "stop": "Arrêt",
                     "price_cents": "Prix", "bus_price_cents": "Bus", "hold_expires_at": "Réservée jusqu'au",
                     "confirmed_at": "Confirmée le", "ended_at": "Terminée le", "cancel_reason": "Motif d'annulation",
                     "created_at": "Créée le"}
    list_columns = ["id", "child", "week", "household", "status", "transport_mode", "stop", "price_cents",
                    "confirmed_at"]
    show_columns = ["id", "basket", "household", "child", "week", "status", "transport_mode", "circuit", "stop",
                    "price_cents", "bus_price_cents", "hold_expires_at", "confirmed_at", "ended_at",
                    "cancel_reason", "created_at"]
    search_columns = ["child", "week", "household", "status", "transport_mode", "circuit", "stop"]
    base_order = ("id", "desc")
    formatters_columns = {"status": lambda s: RESERVATION_STATUS_LABELS.get(s, s), "price_cents": euros,
                          "bus_price_cents": euros, "hold_expires_at": FORMAT_DATETIME,
                          "confirmed_at": FORMAT_DATETIME, "ended_at": FORMAT_DATETIME, "created_at": FORMAT_DATETIME,
                          "transport_mode": lambda m: TRANSPORT_MODE_LABELS.get(m, m)}


def register(appbuilder) -> None:
    appbuilder.add_view(StaffPaymentsView, "Paiements", href="/paiements/", icon="fa-credit-card",
                        category=CATEGORY, category_icon="fa-euro")
    appbuilder.add_link("Paiements à vérifier", href="/paiements/?signales=1", icon="fa-flag",
                        category=CATEGORY)
    appbuilder.add_view(BasketListView, "Paniers", icon="fa-shopping-basket", category=CATEGORY)
    appbuilder.add_view(ReservationListView, "Réservations", icon="fa-list", category=CATEGORY)

