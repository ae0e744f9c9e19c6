"""POST /api/v1/portal/basket/checkout: the JSON API's way to payment (JWT only).

With the portal API (app/api/portal.py), a parent goes from login to payment without the web
pages: the answer's `payment_url` is the provider's payment page (Stripe Checkout, or the sandbox
test page), which sends the parent back to the portal's return page.
"""
from __future__ import annotations

from flask import g
from flask_appbuilder.api import BaseApi, expose
from flask_appbuilder.security.decorators import protect

from app.api.common import json_response, service_errors
from app.services.household.links import require_household
from app.services.payments import service as payments


class PortalCheckoutApi(BaseApi):
    resource_name = "portal-checkout"
    route_base = "/api/v1/portal"
    allow_browser_login = False  # a write endpoint: JWT only (REST APIs are CSRF-exempt)
    openapi_spec_tag = "Portail familles"

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
            `payment_url` vaut null. Montants en centimes d'euro.
          responses:
            200:
              description: Page de paiement à ouvrir, ou panier confirmé (total nul)
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      basket_id: {type: integer}
                      amount_cents: {type: integer}
                      payment_url: {type: string, nullable: true}
                      status: {type: string, enum: [payment_required, confirmed]}
            401:
              $ref: '#/components/responses/401'
            404:
              description: Panier vide (code basket_empty)
            409:
              description: >-
                Panier expiré (basket_expired) ou tarifs mis à jour (price_changed : vérifier le
                panier puis rappeler)
            503:
              description: Service de paiement ou base momentanément indisponible ; réessayer
        """
        household = require_household(g.user)
        result = payments.start_checkout(household.id, actor=g.user)
        return json_response(200, {"basket_id": result.basket_id, "amount_cents": result.amount_cents,
                           "payment_url": result.payment_url,
                           "status": "confirmed" if result.payment_url is None else "payment_required"})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalCheckoutApi)
