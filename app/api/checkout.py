"""POST /api/v1/portal/basket/checkout: the JSON API's way to payment (JWT only).

With the portal API (app/api/portal.py), a parent goes from login to payment without the web
pages: the answer's `payment_url` is the provider's payment page (Stripe Checkout, or the sandbox
test page), which sends the parent back to the portal's return page.
"""
from __future__ import annotations

from flask import g
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect

from app.api import schemas
from app.api.common import PortalBaseApi, answer, service_errors
from app.services import payments
from app.services.household.links import require_household
from app.services.payments.credits import credit_of_payment


class PortalCheckoutApi(PortalBaseApi):
    resource_name = "portal-checkout"
    route_base = "/api/v1/portal"

    @expose("/basket/checkout", methods=["POST"])
    @protect()
    @service_errors
    def checkout(self):
        """Valider le panier : ouvrir (ou retrouver) la page de paiement.
        ---
        post:
          summary: Valider le panier et payer
          description: >-
            Recalcule le prix de chaque ligne (quotient familial, bus), puis ouvre la page de
            paiement du panier, ou renvoie celle déjà ouverte (jamais deux paiements possibles pour
            un même panier). Un panier dont le total est nul est confirmé tout de suite et
            `payment_url` vaut null. Montants en centimes d'euro. Sans corps de requête.
          responses:
            200:
              description: Page de paiement à ouvrir, ou panier confirmé (total nul)
              content: {application/json: {schema: PortalCheckout}}
            401: {$ref: '#/components/responses/401'}
            404:
              description: Panier vide (basket_empty) ou pas de dossier famille
              content: {application/json: {schema: PortalReason}}
            409:
              description: >-
                Panier expiré (basket_expired), tarifs mis à jour (price_changed : vérifier le
                panier puis rappeler), ou paiement en ligne impossible avec PayFiP (amount_too_low :
                moins de 1 €, amount_too_high, email_required : régler au guichet ou corriger
                l'adresse e-mail du dossier)
              content: {application/json: {schema: PortalReason}}
            502:
              description: Le service de paiement a refusé la demande (payment_provider_error) ; rien n'a été débité
              content: {application/json: {schema: PortalReason}}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        result = payments.start_checkout(household.id, actor=g.user)
        return answer(200, schemas.checkout_answer, {
            "basket_id": result.basket_id, "amount_cents": result.amount_cents, "payment_url": result.payment_url,
            "status": "confirmed" if result.payment_url is None else "payment_required",
            "credit_cents": credit_of_payment(result.payment_id) if result.payment_id else 0})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalCheckoutApi)
