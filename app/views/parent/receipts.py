"""Payment pages of the parent area, thin over app.services.payments.

POST /famille/paiement/commencer   "Valider mon panier": open (or reuse) the basket's payment page
GET  /famille/paiement/retour      back from the payment page: ask the provider, fulfil if paid
GET  /famille/paiement/annule      back without paying: resume payment, or change the basket
POST /famille/paiement/modifier    close the payment page so that the basket can be changed
GET  /famille/recus                the household's receipts (baskets paid before invoices existed)
GET  /famille/recu/<basket_id>     a printable receipt (another household's basket: 404); it points to
                                   the basket's invoice, the document that replaces it (issue 16)

Stripe's guidance is followed: the success page fulfils as well as the webhook (whichever comes
first confirms, the other finds the payment already paid).
"""
from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services import payments
from app.services.booking import basket as basket_service
from app.services.localize import PAYMENT_METHOD_LABELS
from app.services.payments.invoices import invoice_of_basket
from app.services.payments.organiser import get_organiser
from app.views.helpers import household_required, service_errors

log = logging.getLogger(__name__)

BASKET = "ParentBasketView.basket"


class ParentPaymentView(BaseView):
    """Checkout, return pages and receipts for the logged-in parent's own household."""

    route_base = "/famille"
    default_view = "receipts"

    @expose("/paiement/commencer", methods=["POST"])
    @has_access
    @household_required
    @service_errors(BASKET)
    def start(self, household):
        result = payments.start_checkout(household.id, actor=g.user)
        if result.payment_url is None:
            flash(_("Vos inscriptions sont confirmées : le total de votre panier était de 0 €. "
                    "Votre facture est dans « Mes factures »."), "success")
            return redirect(url_for("ParentInvoicesView.invoices"))
        return redirect(result.payment_url, code=303)

    @expose("/paiement/retour", methods=["GET"])
    @has_access
    @household_required
    @service_errors(BASKET)
    def back(self, household):
        checkout_ref = (request.args.get("session_id") or "").strip()
        if not checkout_ref or len(checkout_ref) > 255:
            abort(404)
        payment = payments.confirm_return(household.id, checkout_ref)
        lines = [line for line in payment.basket.lines if line.status == "confirmed"]
        return self.render_template("parent/payment/return.html", payment=payment, basket=payment.basket,
                                    lines=lines, label=payments.line_label,
                                    invoice=invoice_of_basket(payment.basket.id))

    @expose("/paiement/annule", methods=["GET"])
    @has_access
    @household_required
    def cancelled(self, household):
        summary = basket_service.basket_summary(household.id)
        return self.render_template("parent/payment/cancel.html", summary=summary,
                                    refused=request.args.get("refuse") == "1")

    @expose("/paiement/modifier", methods=["POST"])
    @has_access
    @household_required
    @service_errors(".cancelled")
    def change_basket(self, household):
        result = payments.abandon_checkout(household.id, actor=g.user)
        if result == "paid":
            flash(_("Votre paiement avait déjà abouti : vos inscriptions sont confirmées."), "success")
            return redirect(url_for(".receipts"))
        flash(_("La page de paiement est fermée : vous pouvez modifier votre panier. "
                "Vos places restent réservées jusqu'à l'heure indiquée."), "info")
        return redirect(url_for(BASKET))

    @expose("/recus", methods=["GET"])
    @has_access
    @household_required
    def receipts(self, household):
        return self.render_template("parent/payment/receipts.html", baskets=payments.paid_baskets(household.id))

    @expose("/recu/<int:basket_id>", methods=["GET"])
    @has_access
    @household_required(otherwise=lambda: abort(404))
    @service_errors(".receipts")
    def receipt(self, household, basket_id: int):
        basket = payments.receipt(household.id, basket_id)
        paid = [p for p in basket.payments if p.status in payments.PAID_STATES]
        refunds = [r for p in paid for r in p.refunds if r.status == "succeeded"]
        return self.render_template(
            "parent/payment/receipt.html", basket=basket, household=household, payments_=paid, refunds=refunds,
            invoice=invoice_of_basket(basket.id),
            organiser=get_organiser(),
            lines=[line for line in basket.lines if line.status in ("confirmed", "cancelled")],
            paid_cents=sum(p.amount_cents for p in paid), refunded_cents=sum(r.amount_cents for r in refunds),
            label=payments.line_label, methods=PAYMENT_METHOD_LABELS)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentPaymentView())
