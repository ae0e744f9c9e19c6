"""The waiting list in the parent API (JWT only): join a full week, read one's rank and offers,
leave, and pay an offer.

Paying an offer is the documented equivalent of finding it in the basket: `POST
/api/v1/portal/waitlist/<id>/pay` turns the offer into the household's basket and opens the same
payment page as `POST /api/v1/portal/basket/checkout` (same fulfilment); running offers are listed by
`GET /api/v1/portal/waitlist` with their deadline. Schemas follow app/api/schemas.py: bodies and path
ids are validated by them, answers dumped through them, and they are the OpenAPI components.
"""
from __future__ import annotations

from typing import ClassVar

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, fields
from marshmallow.validate import OneOf

from app.api import schemas
from app.api.common import PortalBaseApi, answer, service_errors
from app.api.schemas import Nested, String, id_field, load_body, load_path_id
from app.models import WaitlistStatus, WaitlistTransport
from app.services import payments
from app.services.booking import waitlist
from app.services.household.links import require_household
from app.services.payments.credits import credit_of_payment

MODE_INVALID = _l("transport.mode doit être « bus », « onsite » ou « any » (bus ou sur place).")
MODE_REQUIRED = _l("transport.mode est obligatoire : « bus » ou « any » (avec stop_id), ou « onsite ».")
TRANSPORT_REQUIRED = _l("transport est obligatoire : {\"mode\": \"bus\"|\"any\", \"stop_id\": …} ou "
                        "{\"mode\": \"onsite\"}.")


class PortalWaitlistTransport(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {"type": TRANSPORT_REQUIRED}
    type_error_code = "transport_required"

    mode = String(
        required=True, validate=OneOf(WaitlistTransport.ALL, error=MODE_INVALID),
        error_messages={"required": MODE_REQUIRED, "null": MODE_REQUIRED, "invalid": MODE_INVALID},
        metadata={"missing_code": "transport_required", "error_code": "invalid_transport",
                  "description": "bus : une place dans le bus à l'arrêt choisi ; onsite : accueil sur site ; "
                                 "any : bus ou sur place (le bus si une place s'y libère, sinon sur site)."})
    stop_id = id_field("stop_id", "d'un arrêt de bus", required=False, code="invalid_stop",
                       description="Arrêt souhaité, obligatoire pour bus et any.")


class PortalWaitlistJoinRequest(Schema):
    """POST /waitlist: one child × one full week, with the transport wanted."""

    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {
        "type": _l("Le corps de la requête doit être un objet JSON avec child_id, week_id et transport.")}
    type_error_code = "invalid"

    child_id = id_field("child_id", "d'un de vos enfants")
    week_id = id_field("week_id", "d'une semaine complète")
    transport = Nested(PortalWaitlistTransport, required=True,
                       error_messages={"required": TRANSPORT_REQUIRED, "null": TRANSPORT_REQUIRED},
                       metadata={"missing_code": "transport_required", "error_code": "transport_required"})


class PortalWaitlistPath(Schema):
    entry_id = id_field("entry_id", "d'une inscription sur liste d'attente", code="not_found")


class PortalWaitlistJoined(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(allow_none=True, required=True,
                              metadata={"description": "Rang sur la liste (1 = prochaine place libérée)."})
    status = fields.String(required=True, validate=OneOf(WaitlistStatus.ALL))


class _Named(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class _Child(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)


class _Week(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    starts_on = fields.String(required=True, metadata={"format": "date"})


class _Transport(Schema):
    mode = fields.String(required=True, validate=OneOf(WaitlistTransport.ALL))
    label = fields.String(required=True)
    stop = fields.String(allow_none=True)


class PortalWaitlistEntry(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=OneOf(WaitlistStatus.ALL), metadata={
        "description": "waiting : en attente ; offered : une place est réservée jusqu'à offer_expires_at ; "
                       "accepted : payée ; lapsed : délai dépassé ; withdrawn : retirée ; closed : plus de "
                       "proposition possible."})
    position = fields.Integer(allow_none=True, required=True,
                              metadata={"description": "Rang tant que l'inscription attend, sinon null."})
    child = fields.Nested(_Child, required=True)
    week = fields.Nested(_Week, required=True)
    period = fields.Nested(_Named, required=True)
    establishment = fields.Nested(_Named, required=True)
    transport = fields.Nested(_Transport, required=True)
    joined_at = fields.String(required=True, metadata={"format": "date-time"})
    offer_expires_at = fields.String(allow_none=True, required=True, metadata={
        "format": "date-time", "description": "Échéance de la place proposée (UTC) ; payer avant via "
                                              "POST /waitlist/{entry_id}/pay."})
    offer_total_cents = fields.Integer(allow_none=True, metadata={"description": "Montant de la place proposée."})
    offer_transport = fields.String(allow_none=True, metadata={"description": "Arrêt, ou « sur place »."})


class PortalWaitlist(Schema):
    entries = fields.List(fields.Nested(PortalWaitlistEntry), required=True)


REQUEST_SCHEMAS = (PortalWaitlistJoinRequest, PortalWaitlistTransport)
ANSWER_SCHEMAS = (PortalWaitlistJoined, PortalWaitlistEntry, PortalWaitlist)

join_request = PortalWaitlistJoinRequest()
joined_answer = PortalWaitlistJoined()
list_answer = PortalWaitlist()
_path = PortalWaitlistPath()




class PortalWaitlistApi(PortalBaseApi):
    resource_name = "portal-waitlist"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + REQUEST_SCHEMAS + ANSWER_SCHEMAS

    @expose("/waitlist", methods=["POST"])
    @protect()
    @service_errors
    def join(self):
        """S'inscrire sur la liste d'attente d'une semaine complète.
        ---
        post:
          summary: Rejoindre une liste d'attente
          description: >-
            Seulement pour une semaine complète (ou dont le bus est complet à l'arrêt choisi) que
            l'enfant pourrait réserver sinon : les refus de réservation s'appliquent (age,
            household_not_validated, already_booked…), ainsi que already_waiting (l'enfant y est
            déjà, quel que soit le foyer), not_full (il reste des places : réserver directement) et
            waitlist_closed (la semaine commence bientôt). Premier arrivé, premier servi.
          requestBody:
            required: true
            content: {application/json: {schema: PortalWaitlistJoinRequest}}
          responses:
            201:
              description: Inscrit sur la liste, avec son rang
              content: {application/json: {schema: PortalWaitlistJoined}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        body = load_body(join_request, request.get_json(silent=True))
        return answer(201, joined_answer, waitlist.join(household.id, body["child_id"], body["week_id"],
                                                        body["transport"], actor=g.user))

    @expose("/waitlist", methods=["GET"])
    @protect()
    @service_errors
    def entries(self):
        """Les inscriptions du foyer sur liste d'attente, leur rang et les places proposées.
        ---
        get:
          summary: Mes listes d'attente
          description: >-
            Chaque inscription avec son statut, son rang tant qu'elle attend et, quand une place est
            proposée (offered), son échéance `offer_expires_at` : la payer par
            POST /waitlist/{entry_id}/pay avant cette heure, sinon elle passe à la famille suivante.
          responses:
            200:
              description: Inscriptions sur liste d'attente
              content: {application/json: {schema: PortalWaitlist}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return answer(200, list_answer, {"entries": waitlist.household_entries(household.id)})

    @expose("/waitlist/<int:entry_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def leave(self, entry_id: int):
        """Quitter la liste d'attente (ou refuser la place proposée, qui passe aussitôt à la suite).
        ---
        delete:
          summary: Quitter une liste d'attente
          parameters:
          - {in: path, name: entry_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Retiré de la liste
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        waitlist.leave(household.id, load_path_id("entry_id", entry_id, _path), actor=g.user)
        return answer(200, schemas.message_answer, {"message": _("Votre enfant a été retiré de la liste d'attente.")})

    @expose("/waitlist/<int:entry_id>/pay", methods=["POST"])
    @protect()
    @service_errors
    def pay(self, entry_id: int):
        """Payer la place proposée : ouvre la page de paiement (comme /basket/checkout).
        ---
        post:
          summary: Payer une place proposée
          description: >-
            La place proposée devient le panier du foyer (paiement sous 60 minutes, jamais au-delà
            de l'échéance de la proposition) et la page de paiement s'ouvre, exactement comme
            POST /basket/checkout. Refusé si un autre panier est en cours (basket_not_empty), si
            le délai est passé (offer_lapsed) ou sans place proposée (no_offer). Sans corps.
          parameters:
          - {in: path, name: entry_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Page de paiement à ouvrir, ou inscription confirmée (total nul)
              content: {application/json: {schema: PortalCheckout}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        waitlist.claim_offer(household.id, load_path_id("entry_id", entry_id, _path), actor=g.user)
        result = payments.start_checkout(household.id, actor=g.user)
        return answer(200, schemas.checkout_answer, {
            "basket_id": result.basket_id, "amount_cents": result.amount_cents, "payment_url": result.payment_url,
            "status": "confirmed" if result.payment_url is None else "payment_required",
            "credit_cents": credit_of_payment(result.payment_id) if result.payment_id else 0})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalWaitlistApi)
