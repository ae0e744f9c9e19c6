"""Cancellation and the credit account in the parent API (JWT only), over the same services as
the « Mes inscriptions » page (issue 14):

GET  /api/v1/portal/reservations/<id>/cancel   what cancelling now would do (the published rule)
POST /api/v1/portal/reservations/<id>/cancel   cancel: credit | refund at once, pending_review
                                               (a justification, staff decide) or refused (409)
GET  /api/v1/portal/account                    the credit balance and its credit notes and uses
POST /api/v1/portal/cancellation-certificates  upload a justification (multipart « file »): its
                                               document_id goes with a late cancellation
"""
from __future__ import annotations

from typing import ClassVar

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, fields
from marshmallow.validate import Length, OneOf

from app.api.common import PortalBaseApi, answer, service_errors
from app.api.schemas import id_field, load_body, load_path_id
from app.services.booking.cancellation import household_quote
from app.services.household import documents
from app.services.household.links import require_household
from app.services.payments import credits
from app.services.payments.cancellations import cancel_by_parent

OUTCOMES = ("credit", "refund", "pending_review", "refused")


class PortalCancelRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {"type": _l("Le corps de la requête doit être un objet JSON (il peut être vide).")}
    type_error_code = "invalid"

    document_id = id_field("document_id", "d'une de vos pièces justificatives (certificat médical…)",
                           required=False, code="invalid_document",
                           description="Justificatif, nécessaire après la date limite d'annulation gratuite.")
    reason = fields.String(load_default=None, allow_none=True, validate=Length(max=1000),
                           metadata={"description": "Motif, en clair, pour le Pôle Jeunesse (après la date limite)."})


class PortalCancelPath(Schema):
    reservation_id = id_field("reservation_id", "d'une inscription confirmée", code="not_found")


class PortalCancellation(Schema):
    outcome = fields.String(required=True, validate=OneOf(OUTCOMES), metadata={
        "description": "credit : avoir crédité ; refund : remboursé sur la carte ; pending_review : demande "
                       "envoyée au Pôle Jeunesse ; refused : annulation impossible (voir code et message)."})
    amount_cents = fields.Integer(required=True, metadata={
        "description": "Montant crédité, remboursé ou demandé (annulation faite : credit_cents + refund_cents, "
                       "sans les journées d'absence justifiée déjà rendues en avoir)."})
    message = fields.String(required=True)
    code = fields.String(allow_none=True, metadata={
        "description": "Raison d'un refus : week_started, deadline_passed, justification_required, "
                       "request_pending, not_confirmed."})
    free_until = fields.String(allow_none=True, metadata={"format": "date",
                                                           "description": "Dernier jour d'annulation gratuite."})
    credit_cents = fields.Integer(metadata={
        "description": "Réponse de POST seulement : la part créditée en avoir sur le compte du foyer (une "
                       "semaine payée en partie avec un avoir revient en avoir pour cette part, même si la "
                       "règle est le remboursement)."})
    refund_cents = fields.Integer(metadata={
        "description": "Réponse de POST seulement : la part remboursée sur la carte."})


class PortalCreditLine(Schema):
    date = fields.String(required=True, metadata={"format": "date-time"})
    label = fields.String(required=True)
    amount_cents = fields.Integer(required=True, metadata={"description": "+ avoir, − utilisation ou remboursement."})
    number = fields.String(allow_none=True, metadata={"description": "Numéro de l'avoir (AV-2026-000001)."})
    kind = fields.String(required=True)


class PortalCertificate(Schema):
    document_id = fields.Integer(required=True, metadata={
        "description": "À passer dans document_id de POST /reservations/{id}/cancel."})
    name = fields.String(required=True, metadata={"description": "Nom du fichier, tel qu'il est conservé."})


class PortalAccount(Schema):
    credit_cents = fields.Integer(required=True, metadata={
        "description": "Avoir disponible, déduit automatiquement du prochain panier."})
    credits = fields.List(fields.Nested(PortalCreditLine), required=True)


REQUEST_SCHEMAS = (PortalCancelRequest,)
ANSWER_SCHEMAS = (PortalCancellation, PortalCreditLine, PortalAccount, PortalCertificate)

cancel_request = PortalCancelRequest()
cancellation_answer = PortalCancellation()
account_answer = PortalAccount()
certificate_answer = PortalCertificate()
_path = PortalCancelPath()




class PortalAccountApi(PortalBaseApi):
    resource_name = "portal-account"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + REQUEST_SCHEMAS + ANSWER_SCHEMAS

    @expose("/reservations/<int:reservation_id>/cancel", methods=["GET"])
    @protect()
    @service_errors
    def cancel_quote(self, reservation_id: int):
        """Ce que donnerait l'annulation maintenant, selon les règles publiées de la période.
        ---
        get:
          summary: Conditions d'annulation d'une inscription
          parameters:
          - {in: path, name: reservation_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: La règle et son résultat (rien n'est annulé)
              content: {application/json: {schema: PortalCancellation}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        result = household_quote(household.id, load_path_id("reservation_id", reservation_id, _path))
        return answer(200, cancellation_answer, {
            "outcome": result.outcome, "amount_cents": result.amount_cents, "message": result.message,
            "code": result.code, "free_until": result.free_until.isoformat() if result.free_until else None})

    @expose("/reservations/<int:reservation_id>/cancel", methods=["POST"])
    @protect()
    @service_errors
    def cancel(self, reservation_id: int):
        """Annuler une inscription confirmée.
        ---
        post:
          summary: Annuler une inscription
          description: >-
            Avant la date limite : annulée aussitôt, avec un avoir (credit) ou un remboursement
            (refund) selon la période ; la place est proposée à la liste d'attente. Après : avec un
            justificatif (document_id d'une pièce du foyer) ou un motif, une demande que le Pôle
            Jeunesse examine (pending_review) ; sans, ou une fois la semaine commencée : refused
            (HTTP 409, avec code et message). Montants en centimes d'euro : amount_cents au total,
            dont credit_cents en avoir et refund_cents sur la carte (la part d'une semaine payée
            avec un avoir revient en avoir) ; free_until, le dernier jour d'annulation gratuite.
          parameters:
          - {in: path, name: reservation_id, required: true, schema: {type: integer}}
          requestBody:
            required: false
            content: {application/json: {schema: PortalCancelRequest}}
          responses:
            200:
              description: Annulée (credit, refund) ou demande envoyée (pending_review)
              content: {application/json: {schema: PortalCancellation}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409:
              description: Annulation refusée (outcome refused, code, message)
              content: {application/json: {schema: PortalCancellation}}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        raw = request.get_json(silent=True)
        body = load_body(cancel_request, raw if raw is not None else {})
        reservation = load_path_id("reservation_id", reservation_id, _path)
        result = cancel_by_parent(household.id, reservation, document_id=body.get("document_id"),
                                  reason=body.get("reason"), actor=g.user)
        # The published deadline (a date of the rules, not of this reservation's state).
        deadline = household_quote(household.id, result.reservation_id).free_until
        done = result.outcome in ("credit", "refund")  # what actually came back (justified absent days excepted)
        return answer(409 if result.outcome == "refused" else 200, cancellation_answer, {
            "outcome": result.outcome,
            "amount_cents": result.credit_cents + result.refund_cents if done else result.amount_cents,
            "message": result.message, "code": result.code, "free_until": deadline.isoformat() if deadline else None,
            "credit_cents": result.credit_cents, "refund_cents": result.refund_cents})

    @expose("/account", methods=["GET"])
    @protect()
    @service_errors
    def account(self):
        """Le compte d'avoirs du foyer.
        ---
        get:
          summary: Mon compte d'avoirs
          description: >-
            Le solde disponible (credit_cents), déduit automatiquement du prochain panier, et les
            avoirs numérotés et leurs utilisations, du plus récent au plus ancien.
          responses:
            200:
              description: Solde et mouvements
              content: {application/json: {schema: PortalAccount}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        data = credits.account(household.id)
        return answer(200, account_answer, {"credit_cents": data["credit_cents"], "credits": [
            {**line, "date": line["date"].isoformat()} for line in data["credits"]]})

    @expose("/cancellation-certificates", methods=["POST"])
    @protect()
    @service_errors
    def certificate(self):
        """Envoyer un justificatif d'annulation (certificat médical).
        ---
        post:
          summary: Envoyer un justificatif d'annulation
          description: >-
            Un certificat médical (PDF, JPEG ou PNG, 5 Mo au plus) joint à une annulation après la
            date limite : son document_id va dans POST /reservations/{id}/cancel. Il n'est vu que
            par votre foyer et le Pôle Jeunesse, et ne renvoie pas votre dossier en vérification.
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema: {type: object, required: [file], properties: {file: {type: string, format: binary}}}
          responses:
            201:
              description: Justificatif enregistré
              content: {application/json: {schema: PortalCertificate}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        upload = request.files.get("file")
        data = upload.read(documents.MAX_BYTES + 1) if upload is not None else b""
        document = documents.add_justification(household, upload.filename if upload is not None else "", data,
                                               actor=g.user)
        return answer(201, certificate_answer, {"document_id": document.id, "name": document.original_name})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalAccountApi)
