"""The parent flow as a JSON API (JWT from POST /api/v1/security/login), over the booking services.

Every id is scoped to the caller's household by the services: another household's child or line is
simply "not found" (404). Refusals carry the eligibility reason code and a French message. The
checkout endpoint lives in app/api/checkout.py (PortalCheckoutApi).
"""
from __future__ import annotations

import logging

from flask import g, request
from flask_appbuilder.api import BaseApi, expose
from flask_appbuilder.security.decorators import protect

from app.api.common import json_response, service_errors
from flask_babel import gettext as _

from app.services.booking import basket as basket_service
from app.services.booking import eligibility
from app.services.household.links import require_household

log = logging.getLogger(__name__)


def _bad_request(api: BaseApi, message: str, code: str = "invalid"):
    return json_response(400, {"code": code, "message": message})


def _positive_int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**31:
        return None
    return value


class PortalApi(BaseApi):
    resource_name = "portal"
    route_base = "/api/v1/portal"
    allow_browser_login = False  # write endpoints: JWT only (REST APIs are CSRF-exempt)
    openapi_spec_tag = "Portail familles"

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
              description: Liste des enfants
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      household:
                        type: object
                        properties:
                          status: {type: string}
                          validated: {type: boolean}
                      children:
                        type: array
                        items:
                          type: object
                          properties:
                            id: {type: integer}
                            first_name: {type: string}
                            last_name: {type: string}
                            birth_date: {type: string, format: date}
                            link_status: {type: string, enum: [pending, validated, refused]}
                            validated: {type: boolean}
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        household = require_household(g.user)
        children = [{"id": child.id, "first_name": child.first_name, "last_name": child.last_name,
                     "birth_date": child.birth_date.isoformat(), "link_status": link.status,
                     "validated": link.status == "validated"}
                    for link, child in eligibility.household_children(household.id)]
        return self.response(200, household={"status": household.status, "validated": household.is_validated},
                             children=children)

    @expose("/children/<int:child_id>/offers", methods=["GET"])
    @protect()
    @service_errors
    def offers(self, child_id: int):
        """Établissements, périodes et semaines ouverts à l'enfant, ou la raison du refus.
        ---
        get:
          summary: Offres pour un enfant
          description: >-
            Chaque établissement, période et semaine avec les places restantes et soit « disponible »,
            soit un code de raison (household_not_validated, child_not_validated, age, not_open_yet,
            closed, full, already_booked, already_in_basket) et un message en français. Pour chaque
            période, les options de transport : circuits avec leurs arrêts (horaires) et les places
            restantes par semaine.
          parameters:
          - in: path
            name: child_id
            required: true
            schema: {type: integer}
          responses:
            200:
              description: Offres
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      child: {type: object}
                      reason:
                        $ref: '#/components/schemas/PortalReason'
                      establishments:
                        type: array
                        items: {type: object}
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
        """
        household = require_household(g.user)
        return self.response(200, **eligibility.offers(household.id, child_id).as_dict())

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
            cours, `lapsed` décrit le dernier panier expiré.
          responses:
            200:
              description: Panier
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      basket_id: {type: integer, nullable: true}
                      status: {type: string, nullable: true}
                      expires_at: {type: string, format: date-time, nullable: true}
                      total_cents: {type: integer}
                      lines: {type: array, items: {type: object}}
                      lapsed: {type: object, nullable: true}
            401:
              $ref: '#/components/responses/401'
        """
        household = require_household(g.user)
        return self.response(200, **basket_service.public_summary(basket_service.basket_summary(household.id)))

    @expose("/basket/lines", methods=["POST"])
    @protect()
    @service_errors
    def add_line(self):
        """Ajouter une semaine au panier (la place est réservée une heure).
        ---
        post:
          summary: Ajouter une ligne au panier
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [child_id, week_id, transport]
                  properties:
                    child_id: {type: integer}
                    week_id: {type: integer}
                    transport:
                      type: object
                      required: [mode]
                      properties:
                        mode: {type: string, enum: [bus, onsite]}
                        stop_id: {type: integer, description: obligatoire pour le bus}
          responses:
            201:
              description: Ligne ajoutée
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      line: {type: object}
                      basket_id: {type: integer}
                      expires_at: {type: string, format: date-time}
                      total_cents: {type: integer}
            400:
              description: Corps de requête invalide (message en français)
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/PortalReason'
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            409:
              description: Refus avec sa raison (full, age, already_booked…)
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/PortalReason'
            503:
              description: Trop de demandes simultanées, réessayer
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/PortalReason'
        """
        household = require_household(g.user)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _bad_request(self, _("Le corps de la requête doit être un objet JSON avec child_id, week_id et "
                                        "transport."))
        child_id, week_id = _positive_int(body.get("child_id")), _positive_int(body.get("week_id"))
        if child_id is None:
            return _bad_request(self, _("child_id doit être l'identifiant (nombre entier) d'un de vos enfants."))
        if week_id is None:
            return _bad_request(self, _("week_id doit être l'identifiant (nombre entier) d'une semaine."))
        if "transport" not in body or not isinstance(body["transport"], dict):
            return _bad_request(self, _("transport est obligatoire : {\"mode\": \"bus\", \"stop_id\": …} ou "
                                        "{\"mode\": \"onsite\"}."), code="transport_required")
        stop_id = body["transport"].get("stop_id")
        if stop_id is not None and _positive_int(stop_id) is None:
            return _bad_request(self, _("stop_id doit être l'identifiant (nombre entier) d'un arrêt."),
                                code="invalid_stop")
        return self.response(201, **basket_service.add_line_summary(household.id, child_id, week_id,
                                                                    body["transport"], actor=g.user))

    @expose("/basket/lines/<int:line_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def remove_line(self, line_id: int):
        """Retirer une ligne du panier (la place est libérée aussitôt).
        ---
        delete:
          summary: Retirer une ligne du panier
          parameters:
          - in: path
            name: line_id
            required: true
            schema: {type: integer}
          responses:
            200:
              description: Ligne retirée
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message: {type: string}
            401:
              $ref: '#/components/responses/401'
            404:
              $ref: '#/components/responses/404'
            409:
              description: La ligne n'est plus dans le panier, ou un paiement est en cours
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/PortalReason'
        """
        household = require_household(g.user)
        basket_service.remove_line(household.id, line_id, actor=g.user)
        return self.response(200, message=_("La semaine a été retirée de votre panier."))

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
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      reservations: {type: array, items: {type: object}}
            401:
              $ref: '#/components/responses/401'
        """
        household = require_household(g.user)
        return self.response(200, reservations=basket_service.reservations(household.id))

    def add_apispec_components(self, api_spec):
        super().add_apispec_components(api_spec)
        try:
            api_spec.components.schema("PortalReason", {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "details": {"type": "object"}},
            })
        except Exception:  # already registered by another version of the spec
            pass


def register(appbuilder) -> None:
    appbuilder.add_api(PortalApi)
