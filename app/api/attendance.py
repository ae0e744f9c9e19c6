"""The animators' API (role Animateur only): the day's attendance sheet, the bus boarding list and
the sync of ticks queued on a phone. The phone pages (app/views/animator/) use it for their
offline queue; an integrator's app may use it with a JWT.

Two ways in, both checked: a JWT (`Authorization: Bearer …`, as the parent API), or the page's own
session cookie — then a write must carry the page's CSRF token in `X-CSRFToken`, because FAB's
REST APIs are CSRF-exempt (a form on another site must not tick children). Which rows an animator
reaches is decided by the services (app.services.operations.attendance: assigned establishments
and circuits, current week only); another establishment's id is a 404.
"""
from __future__ import annotations

import functools
from datetime import date
from typing import ClassVar

from flask import g, request
from flask_appbuilder.api import BaseApi, expose
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _
from flask_jwt_extended import verify_jwt_in_request
from flask_wtf.csrf import CSRFError, validate_csrf
from marshmallow import Schema, fields
from marshmallow.validate import OneOf
from wtforms import ValidationError as WTFValidationError

from app.api import schemas
from app.api.common import answer, json_response, service_errors
from app.models import AbsenceReason, AttendanceStatus, BoardingLeg
from app.models.types import parse_id
from app.services.errors import NotFound, ValidationFailed
from app.services.operations import attendance, boarding, tick_sync


def _reason(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PortalReason"}}}}


# --- schemas ------------------------------------------------------------------------------------

class _Person(Schema):
    name = fields.String(required=True)
    phone = fields.String(required=True)
    relationship = fields.String(required=True)


class AnimatorSheetChild(Schema):
    """What an animator may know of a child: no money, no document, no address, no medical notes."""

    child_id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    age = fields.Integer(required=True)
    allergies = fields.String(required=True)
    diet = fields.String(required=True)
    pai = fields.Boolean(required=True, metadata={"description": "Projet d'accueil individualisé (protocole "
                                                                 "à l'accueil)."})
    transport = fields.String(required=True)
    contacts = fields.List(fields.Nested(_Person), required=True, metadata={"description": "Contacts d'urgence."})
    pickups = fields.List(fields.Nested(_Person), required=True,
                          metadata={"description": "Personnes autorisées à récupérer l'enfant."})
    status = fields.String(allow_none=True, required=True, validate=OneOf(AttendanceStatus.ALL),
                           metadata={"description": "null : pas encore pointé."})
    arrived_at = fields.Time(allow_none=True, format="%H:%M")
    left_at = fields.Time(allow_none=True, format="%H:%M")
    picked_up_by = fields.String()
    pickup_unlisted = fields.Boolean(metadata={"description": "Récupéré par une personne non autorisée."})
    absence_reason = fields.String(allow_none=True)


class _OpenDay(Schema):
    is_open = fields.Boolean(required=True)
    opens_at = fields.Time(required=True, format="%H:%M")
    closes_at = fields.Time(required=True, format="%H:%M")
    holiday = fields.String(required=True, metadata={"description": "Nom du jour férié, le cas échéant."})


class AnimatorDaySheet(Schema):
    establishment_id = fields.Integer(required=True)
    establishment_name = fields.String(required=True)
    day = fields.Date(required=True)
    open_day = fields.Nested(_OpenDay, required=True)
    children = fields.List(fields.Nested(AnimatorSheetChild), required=True)


class _BoardingChild(Schema):
    child_id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    age = fields.Integer(required=True)
    allergies = fields.String(required=True)
    pai = fields.Boolean(required=True)
    guardian_phone = fields.String(required=True)
    boarded = fields.Boolean(required=True)
    got_off = fields.Boolean(required=True)


class _StopSheet(Schema):
    stop_id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.Integer(required=True)
    time = fields.Time(required=True, format="%H:%M")
    children = fields.List(fields.Nested(_BoardingChild), required=True)


class AnimatorBoardingSheet(Schema):
    circuit_id = fields.Integer(required=True)
    circuit_name = fields.String(required=True)
    establishment_name = fields.String(required=True)
    day = fields.Date(required=True)
    leg = fields.String(required=True, validate=OneOf(BoardingLeg.ALL))
    stops = fields.List(fields.Nested(_StopSheet), required=True,
                        metadata={"description": "Dans l'ordre du trajet (inversé le soir)."})


class AnimatorTick(Schema):
    """One tick as the phone recorded it (documentation: each tick is checked on its own)."""

    client_id = fields.String(required=True, metadata={"description": "Identifiant créé par le téléphone "
                                                                      "(UUID) : un renvoi est sans effet."})
    kind = fields.String(required=True, validate=OneOf(("attendance", "boarding")))
    ticked_at = fields.DateTime(required=True, metadata={"description": "Heure du téléphone au pointage : le "
                                                                        "plus récent l'emporte."})
    day = fields.Date(required=True)
    child_id = fields.Integer(required=True)
    establishment_id = fields.Integer(metadata={"description": "attendance"})
    status = fields.String(validate=OneOf(AttendanceStatus.ALL), metadata={"description": "attendance"})
    arrived_at = fields.String(metadata={"description": "attendance, HH:MM si différente de l'ouverture"})
    left_at = fields.String(metadata={"description": "attendance, HH:MM si différente de la fermeture"})
    picked_up_by = fields.String(metadata={"description": "attendance : personne qui récupère l'enfant"})
    absence_reason = fields.String(validate=OneOf(AbsenceReason.ALL), metadata={"description": "attendance"})
    circuit_id = fields.Integer(metadata={"description": "boarding"})
    stop_id = fields.Integer(metadata={"description": "boarding"})
    leg = fields.String(validate=OneOf(BoardingLeg.ALL), metadata={"description": "boarding"})
    boarded = fields.Boolean(metadata={"description": "boarding"})
    got_off = fields.Boolean(metadata={"description": "boarding"})


class AnimatorSyncRequest(Schema):
    ticks = fields.List(fields.Nested(AnimatorTick), required=True)


class _TickResult(Schema):
    client_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=OneOf(("applied", "duplicate", "stale", "refused")),
                            metadata={"description": "applied ; duplicate (déjà reçu) ; stale (un pointage plus "
                                                     "récent existe) ; refused (code et message)."})
    code = fields.String(required=True)
    message = fields.String(required=True)


class AnimatorSyncResult(Schema):
    results = fields.List(fields.Nested(_TickResult), required=True)


sheet_answer = AnimatorDaySheet()
boarding_answer = AnimatorBoardingSheet()
sync_answer = AnimatorSyncResult()


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(_("Date invalide (AAAA-MM-JJ attendu)."), code="invalid_day") from None


def _id(value) -> int:
    number = parse_id(value)
    if number is None:
        raise NotFound(_("Introuvable."), code="not_found")
    return number


def session_or_jwt(fn):
    """A JWT if one is sent (then checked like the parent API's), else the page's session, whose
    writes must carry the CSRF token."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if request.headers.get("Authorization"):
            verify_jwt_in_request()
        elif request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken"))
            except (WTFValidationError, CSRFError):
                return json_response(400, {"code": "csrf", "message": _("Jeton de sécurité manquant ou expiré : "
                                                                          "rechargez la page.")})
        return fn(self, *args, **kwargs)

    return wrapper


class AnimatorAttendanceApi(BaseApi):
    resource_name = "animator"
    route_base = "/api/v1/animator"
    allow_browser_login = True  # the phone pages' session; writes then need the CSRF token (session_or_jwt)
    openapi_spec_tag = "Animateurs"
    openapi_spec_component_schemas = (schemas.PortalReason, AnimatorDaySheet, AnimatorSheetChild,
                                      AnimatorBoardingSheet, AnimatorTick, AnimatorSyncRequest, AnimatorSyncResult)
    responses: ClassVar[dict] = {
        **BaseApi.responses,
        "AnimatorInvalid": _reason("Requête invalide : code et message en français."),
        "AnimatorNotFound": _reason("Introuvable, ou pas confié à cet animateur, ou hors de la semaine en cours "
                                    "(not_found, outside_week)."),
    }

    @expose("/attendance/<int:establishment_id>/<day>", methods=["GET"])
    @session_or_jwt
    @protect()
    @service_errors
    def sheet(self, establishment_id: int, day: str):
        """La feuille de présence d'un établissement pour un jour.
        ---
        get:
          summary: Feuille de présence du jour
          parameters:
          - {in: path, name: establishment_id, required: true, schema: {type: integer}}
          - {in: path, name: day, required: true, schema: {type: string, format: date}}
          responses:
            200:
              description: Les enfants inscrits ce jour-là et leur pointage
              content: {application/json: {schema: AnimatorDaySheet}}
            400: {$ref: '#/components/responses/AnimatorInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/AnimatorNotFound'}
        """
        sheet = attendance.day_sheet(_id(establishment_id), _day(day),
                                     user_id=g.user.id)
        return answer(200, sheet_answer, sheet)

    @expose("/boarding/<int:circuit_id>/<day>/<leg>", methods=["GET"])
    @session_or_jwt
    @protect()
    @service_errors
    def boarding(self, circuit_id: int, day: str, leg: str):
        """La liste du car : arrêts dans l'ordre du trajet, horaires, enfants inscrits à chaque arrêt.
        ---
        get:
          summary: Liste de montée du car
          parameters:
          - {in: path, name: circuit_id, required: true, schema: {type: integer}}
          - {in: path, name: day, required: true, schema: {type: string, format: date}}
          - {in: path, name: leg, required: true, schema: {type: string, enum: [morning, evening]}}
          responses:
            200:
              description: La liste du car
              content: {application/json: {schema: AnimatorBoardingSheet}}
            400: {$ref: '#/components/responses/AnimatorInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/AnimatorNotFound'}
        """
        sheet = boarding.boarding_sheet(_id(circuit_id), _day(day), leg, user_id=g.user.id)
        return answer(200, boarding_answer, sheet)

    @expose("/sync", methods=["POST"])
    @session_or_jwt
    @protect()
    @service_errors
    def sync(self):
        """Envoyer les pointages en attente sur le téléphone (présences et montées dans le car).
        ---
        post:
          summary: Synchroniser les pointages
          description: >-
            Chaque pointage porte un identifiant créé par le téléphone : le même lot envoyé deux fois
            n'enregistre rien de plus (duplicate). Deux téléphones qui pointent le même enfant : le
            pointage le plus récent (ticked_at) l'emporte, quel que soit l'ordre d'arrivée (stale pour
            l'autre). Un pointage refusé (enfant non inscrit, non inscrit à cet arrêt — not_on_stop —,
            jour fermé, hors de la semaine) ne bloque pas les suivants.
          requestBody:
            required: true
            content: {application/json: {schema: AnimatorSyncRequest}}
          responses:
            200:
              description: Le sort de chaque pointage, dans l'ordre
              content: {application/json: {schema: AnimatorSyncResult}}
            400: {$ref: '#/components/responses/AnimatorInvalid'}
            401: {$ref: '#/components/responses/401'}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("ticks"), list):
            raise ValidationFailed(_("Le corps de la requête doit être un objet JSON avec la liste « ticks »."),
                                   code="invalid")
        results = tick_sync.sync(body["ticks"], user_id=g.user.id)
        return answer(200, sync_answer, {"results": results})


def register(appbuilder) -> None:
    appbuilder.add_api(AnimatorAttendanceApi)
