"""The parent flow as a JSON API (JWT from POST /api/v1/security/login), over the booking services.

Every id is scoped to the caller's household by the services: another household's child or line is
simply "not found" (404). Refusals carry the eligibility reason code and a French message. The
checkout endpoint lives in app/api/checkout.py (PortalCheckoutApi). Bodies, path ids and answers
go through the schemas of app/api/schemas.py, which also write the OpenAPI document: the
docstrings below only name them.
"""
from __future__ import annotations

import logging

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _

from app.api import schemas
from app.api.common import PortalBaseApi, answer, conditional, service_errors
from app.api.schemas import load_body, load_path_id
from app.api.waiting_room import queued
from app.models import BasketStatus
from app.services.booking import basket as basket_service
from app.services.booking import eligibility, waitlist
from app.services.booking.cancellation import basket_terms
from app.services.household.links import require_household
from app.services.payments import credits

log = logging.getLogger(__name__)

# How long a phone may show the offers without asking again (« places restantes » a few seconds old).
OFFERS_MAX_AGE_SECONDS = 5


class PortalApi(PortalBaseApi):
    resource_name = "portal"
    route_base = "/api/v1/portal"

    @expose("/children", methods=["GET"])
    @protect()
    @service_errors
    def children(self):
        """Les enfants du foyer, avec le statut de leur rattachement.
        ---
        get:
          summary: Enfants du foyer
          description: >-
            Les enfants rattachés au foyer de l'utilisateur connecté, avec le statut de validation
            du rattachement et du dossier famille.
          responses:
            200:
              description: Enfants du foyer
              content: {application/json: {schema: PortalChildren}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        children = [{"id": child.id, "first_name": child.first_name, "last_name": child.last_name,
                     "birth_date": child.birth_date.isoformat(), "link_status": link.status,
                     "validated": link.status == "validated"}
                    for link, child in eligibility.household_children(household.id)]
        return answer(200, schemas.children_answer, {
            "household": {"status": household.status, "validated": household.is_validated},
            "children": children})

    @expose("/children/<int:child_id>/offers", methods=["GET"])
    @protect()
    @queued
    @service_errors
    def offers(self, child_id: int):
        """Établissements, périodes et semaines ouverts à l'enfant, ou la raison du refus.
        ---
        get:
          summary: Offres pour un enfant
          description: >-
            Chaque établissement, période et semaine avec les places restantes et soit « disponible »,
            soit un code de raison (household_not_validated, child_not_validated, age, not_open_yet,
            closed, full, already_booked, already_in_basket, wishes_period : période sur vœux, voir
            /children/{id}/wishes/{period_id}) et un message en français. Pour chaque
            période, les options de transport : circuits avec leurs arrêts (horaires) et les places
            restantes par semaine. La réponse porte un ETag : renvoyé dans `If-None-Match`, il vaut
            304 sans corps tant que rien n'a changé (les places restantes peuvent dater de quelques
            secondes ; l'ajout au panier revérifie toujours).
          parameters:
          - {in: path, schema: PortalChildPath}
          responses:
            200:
              description: Offres
              content: {application/json: {schema: PortalOffers}}
            304:
              description: Rien n'a changé depuis l'ETag envoyé
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            429: {$ref: '#/components/responses/PortalWaitingRoom'}
        """
        household = require_household(g.user)
        child_id = load_path_id("child_id", child_id)
        return conditional(answer(200, schemas.offers_answer, eligibility.offers(household.id, child_id).as_dict()),
                           max_age=OFFERS_MAX_AGE_SECONDS)

    @expose("/basket", methods=["GET"])
    @protect()
    @service_errors
    def basket(self):
        """Le panier : lignes, prix, total et fin de la réservation des places.
        ---
        get:
          summary: Panier
          description: >-
            Les lignes du panier en cours (enfant, semaine, transport et arrêt avec horaires, prix
            selon le quotient familial), le total en centimes et `expires_at` (UTC). Sans panier en
            cours, `lapsed` décrit le dernier panier expiré. `waitlist_offers` : les places que la
            liste d'attente réserve au foyer, chacune avec son échéance, à payer par
            POST /waitlist/{entry_id}/pay. `cancellation_terms` : la règle d'annulation publiée
            de chaque ligne. `credit_cents` : l'avoir disponible du foyer ; `credit_applied_cents` :
            la part déduite automatiquement de ce panier au paiement (panier ouvert) ;
            `to_pay_cents` : le reste à payer par carte.
          responses:
            200:
              description: Panier
              content: {application/json: {schema: PortalBasket}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        summary = basket_service.basket_summary(household.id)
        credit = credits.available_credit(household.id)
        # What the checkout will take (credits.credit_to_take, read here without its lock).
        applied = (min(max(credit, 0), max(summary["total_cents"], 0))
                   if summary["status"] == BasketStatus.OPEN else 0)
        return answer(200, schemas.basket_answer, {
            **summary, "waitlist_offers": waitlist.household_offers(household.id),
            "cancellation_terms": basket_terms(summary["lines"]), "credit_cents": max(credit, 0),
            "credit_applied_cents": applied, "to_pay_cents": summary["total_cents"] - applied})

    @expose("/basket/lines", methods=["POST"])
    @protect()
    @queued
    @service_errors
    def add_line(self):
        """Ajouter une semaine au panier (la place est réservée une heure).
        ---
        post:
          summary: Ajouter une ligne au panier
          requestBody:
            required: true
            content: {application/json: {schema: PortalAddLineRequest}}
          responses:
            201:
              description: Ligne ajoutée
              content: {application/json: {schema: PortalAddedLine}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            429: {$ref: '#/components/responses/PortalWaitingRoom'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        body = load_body(schemas.add_line_request, request.get_json(silent=True))
        return answer(201, schemas.added_line_answer, basket_service.add_line_summary(
            household.id, body["child_id"], body["week_id"], body["transport"], actor=g.user))

    @expose("/basket/lines/<int:line_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def remove_line(self, line_id: int):
        """Retirer une ligne du panier (la place est libérée aussitôt).
        ---
        delete:
          summary: Retirer une ligne du panier
          description: Refusé (409) si la ligne n'est plus dans le panier ou si un paiement est en cours.
          parameters:
          - {in: path, schema: PortalLinePath}
          responses:
            200:
              description: Ligne retirée
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        basket_service.remove_line(household.id, load_path_id("line_id", line_id), actor=g.user)
        return answer(200, schemas.message_answer, {"message": _("La semaine a été retirée de votre panier.")})

    @expose("/reservations", methods=["GET"])
    @protect()
    @service_errors
    def reservations(self):
        """Les inscriptions confirmées (payées) du foyer.
        ---
        get:
          summary: Mes inscriptions
          responses:
            200:
              description: Inscriptions confirmées
              content: {application/json: {schema: PortalReservations}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return answer(200, schemas.reservations_answer, {"reservations": basket_service.reservations(household.id)})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalApi)
