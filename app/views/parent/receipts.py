"""Payment pages of the parent area, thin over app.services.payments.

POST /famille/paiement/commencer   "Valider mon panier": open (or reuse) the basket's payment page
GET  /famille/paiement/retour      back from the payment page: ask the provider, fulfil if paid
GET  /famille/paiement/annule      back without paying: resume payment, or change the basket
POST /famille/paiement/modifier    close the payment page so that the basket can be changed
GET  /famille/recus                the household's receipts
GET  /famille/recu/<basket_id>     a printable receipt (another household's basket: 404)

Stripe's guidance is followed: the success page fulfils as well as the webhook (whichever comes
first confirms, the other finds the payment already paid).
"""
from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, request
from flask_babel import gettext as _
from flask_appbuilder import BaseView, expose, has_access

from app.services.booking import basket as basket_service
from app.services.errors import NotFound, ServiceError
from app.services.household.links import household_for_user
from app.services.payments import service as payments

log = logging.getLogger(__name__)

NO_HOUSEHOLD = "Aucun dossier famille n'est associé à ce compte : complétez d'abord votre dossier."
BASKET_URL = "/famille/panier/"


def _household():
    household = household_for_user(g.user)
    if household is None:
        flash(_(NO_HOUSEHOLD), "warning")
    return household


class ParentPaymentView(BaseView):
    """Checkout, return pages and receipts for the logged-in parent's own household."""

    route_base = "/famille"
    default_view = "receipts"

    @expose("/paiement/commencer", methods=["POST"])
    @has_access
    def start(self):
        household = _household()
        if household is None:
            return redirect("/famille/")
        try:
            result = payments.start_checkout(household.id, actor=g.user)
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(BASKET_URL)
        if result.payment_url is None:
            flash(_("Vos inscriptions sont confirmées : le total de votre panier était de 0 €."), "success")
            return redirect(f"/famille/recu/{result.basket_id}")
        return redirect(result.payment_url, code=303)

    @expose("/paiement/retour", methods=["GET"])
    @has_access
    def back(self):
        household = _household()
        if household is None:
            return redirect("/famille/")
        checkout_ref = (request.args.get("session_id") or "").strip()
        if not checkout_ref or len(checkout_ref) > 255:
            abort(404)
        try:
            payment = payments.confirm_return(household.id, checkout_ref)
        except NotFound:
            abort(404)
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect(BASKET_URL)
        lines = [line for line in payment.basket.lines if line.status == "confirmed"]
        return self.render_template("parent/payment/return.html", payment=payment, basket=payment.basket,
                                    lines=lines, label=payments.line_label)

    @expose("/paiement/annule", methods=["GET"])
    @has_access
    def cancelled(self):
        household = _household()
        if household is None:
            return redirect("/famille/")
        summary = basket_service.basket_summary(household.id)
        return self.render_template("parent/payment/cancel.html", summary=summary,
                                    refused=request.args.get("refuse") == "1")

    @expose("/paiement/modifier", methods=["POST"])
    @has_access
    def change_basket(self):
        household = _household()
        if household is None:
            return redirect("/famille/")
        try:
            result = payments.abandon_checkout(household.id, actor=g.user)
        except ServiceError as exc:
            flash(exc.message, "danger")
            return redirect("/famille/paiement/annule")
        if result == "paid":
            flash(_("Votre paiement avait déjà abouti : vos inscriptions sont confirmées."), "success")
            return redirect("/famille/recus")
        flash(_("La page de paiement est fermée : vous pouvez modifier votre panier. "
                "Vos places restent réservées jusqu'à l'heure indiquée."), "info")
        return redirect(BASKET_URL)

    @expose("/recus", methods=["GET"])
    @has_access
    def receipts(self):
        household = _household()
        if household is None:
            return redirect("/famille/")
        return self.render_template("parent/payment/receipts.html", baskets=payments.paid_baskets(household.id))

    @expose("/recu/<int:basket_id>", methods=["GET"])
    @has_access
    def receipt(self, basket_id: int):
        household = _household()
        if household is None:
            abort(404)
        try:
            basket = payments.receipt(household.id, basket_id)
        except NotFound:
            abort(404)
        paid = [p for p in basket.payments if p.status in payments.PAID_STATES]
        refunds = [r for p in paid for r in p.refunds if r.status == "succeeded"]
        return self.render_template(
            "parent/payment/receipt.html", basket=basket, household=household, payments_=paid, refunds=refunds,
            lines=[line for line in basket.lines if line.status in ("confirmed", "cancelled")],
            paid_cents=sum(p.amount_cents for p in paid), refunded_cents=sum(r.amount_cents for r in refunds),
            label=payments.line_label, methods=METHOD_LABELS)


METHOD_LABELS = {"card": "Carte bancaire en ligne", "cash": "Espèces", "cheque": "Chèque",
                 "cheques_vacances": "Chèques-vacances", "card_terminal": "Carte bancaire au Pôle Jeunesse",
                 "free": "Gratuit"}


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentPaymentView())
