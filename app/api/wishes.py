"""A wish campaign in the parent API (JWT only): read and replace a child's ranked wishes for a period,
and read the family's allocation result with its explanation.

The same services as the pages (`booking.wishes`, `booking.allocation_reads`), so the same refusals:
outside the window (wishes_not_open, wishes_closed), the booking rule's reasons (age, already_booked…),
duplicate_week, invalid_week, invalid_stop. PUT replaces the whole list: order = preference.
"""
from __future__ import annotations

from typing import ClassVar

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, fields

from app.api.common import PortalBaseApi, answer, service_errors
from app.api.schemas import Nested, id_field, load_body, load_path_id
from app.api.waitlist import PortalWaitlistTransport
from app.services.booking import allocation_reads, wishes
from app.services.household.links import require_household


class PortalWishItem(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {"type": _l("Chaque vœu est un objet avec week_id et transport.")}
    type_error_code = "invalid_wishes"

    week_id = id_field("week_id", "d'une semaine de la période", code="invalid_week")
    transport = Nested(PortalWaitlistTransport, required=True,
                       metadata={"missing_code": "transport_required", "error_code": "transport_required"})
    together = fields.Boolean(load_default=False, metadata={
        "description": "« Ensemble ou pas du tout » : avec les vœux « together » des frères et sœurs pour la "
                       "même semaine, attribués à tous ou à aucun."})


class PortalWishesRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {"type": _l("Le corps de la requête doit être un objet JSON avec wishes.")}
    type_error_code = "invalid_wishes"

    wishes = fields.List(fields.Nested(PortalWishItem), required=True, metadata={
        "description": "Les semaines souhaitées, de la préférée à la moins souhaitée (remplace la liste)."})


class _Reason(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class _WishWeek(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    starts_on = fields.String(required=True)
    capacity = fields.Integer(required=True)
    available = fields.Boolean(required=True)
    reason = fields.Nested(_Reason, allow_none=True)


class _WishStop(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    circuit = fields.String(required=True)
    pickup_time = fields.String(required=True)


class _WishTransport(Schema):
    mode = fields.String(required=True)
    stop_id = fields.Integer(allow_none=True)


class _Wish(Schema):
    id = fields.Integer(required=True)
    rank = fields.Integer(required=True)
    week_id = fields.Integer(required=True)
    week = fields.String(required=True)
    transport = fields.Nested(_WishTransport, required=True)
    together = fields.Boolean(required=True)


class _WishPeriod(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    establishment = fields.String(required=True)
    wishes_open_at = fields.String(allow_none=True)
    wishes_close_at = fields.String(allow_none=True)
    results_at = fields.String(allow_none=True)
    offer_hours = fields.Integer(required=True)
    max_weeks_per_child = fields.Integer(allow_none=True)


class _WishChild(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)


class PortalWishes(Schema):
    period = fields.Nested(_WishPeriod, required=True)
    child = fields.Nested(_WishChild, required=True)
    open = fields.Boolean(required=True, metadata={"description": "Vrai pendant la période de vœux."})
    reason = fields.Nested(_Reason, allow_none=True)
    published = fields.Boolean(required=True)
    weeks = fields.List(fields.Nested(_WishWeek), required=True)
    stops = fields.List(fields.Nested(_WishStop), required=True)
    wishes = fields.List(fields.Nested(_Wish), required=True)


class _Criterion(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    points = fields.Integer(required=True)


class _ChildCriterion(_Criterion):
    child = fields.String(required=True)


class _WishResult(Schema):
    wish_id = fields.Integer(required=True)
    child = fields.String(required=True)
    child_id = fields.Integer(required=True)
    week = fields.String(required=True)
    rank = fields.Integer(required=True)
    round = fields.Integer(required=True)
    points = fields.Integer(required=True)
    outcome = fields.String(required=True, metadata={"description": "given ou refused"})
    reason = fields.String(allow_none=True)
    transport = fields.String(allow_none=True)
    entry_id = fields.Integer(allow_none=True, metadata={
        "description": "Inscription sur liste d'attente (la place attribuée se paie par POST /waitlist/{id}/pay)."})
    offer_expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "Échéance de paiement de la place attribuée (tant qu'elle est à payer)."})
    entry_status = fields.String(allow_none=True, metadata={
        "description": "waiting, offered (à payer), accepted (payée), lapsed, withdrawn, closed"})
    text = fields.String(required=True, metadata={"description": "« complet au tour 2 ; 3ᵉ sur la liste d'attente »"})


class PortalAllocation(Schema):
    published = fields.Boolean(required=True)
    period_id = fields.Integer(required=True)
    household_id = fields.Integer(metadata={"description": "Le numéro du foyer, qui entre dans le tirage."})
    results_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime()
    public_value = fields.String()
    seed = fields.String()
    points = fields.Integer()
    criteria = fields.List(fields.Nested(_Criterion))
    child_criteria = fields.List(fields.Nested(_ChildCriterion))
    sibling_points = fields.Integer()
    draw_rank = fields.Integer()
    draw_size = fields.Integer()
    draw_text = fields.String(metadata={"description": "« 134 sur 412 »"})
    wishes = fields.List(fields.Nested(_WishResult))


class PortalWishPeriodPath(Schema):
    period_id = id_field("period_id", "d'une période", code="not_found")


REQUEST_SCHEMAS = (PortalWishesRequest, PortalWishItem)
ANSWER_SCHEMAS = (PortalWishes, PortalAllocation)
wishes_request = PortalWishesRequest()
wishes_answer = PortalWishes()
allocation_answer = PortalAllocation()


_period_path = PortalWishPeriodPath()




class PortalWishesApi(PortalBaseApi):
    resource_name = "portal-wishes"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + REQUEST_SCHEMAS + ANSWER_SCHEMAS

    @expose("/children/<int:child_id>/wishes/<int:period_id>", methods=["GET"])
    @protect()
    @service_errors
    def get_wishes(self, child_id: int, period_id: int):
        """Les vœux classés d'un enfant pour une période ouverte sur vœux.
        ---
        get:
          summary: Vœux d'un enfant
          description: >-
            Les semaines de la période (avec la raison quand l'enfant ne peut pas les demander), les
            arrêts de bus, et les vœux enregistrés dans l'ordre de préférence. L'heure du dépôt ne
            compte pas : rien n'est réservé avant l'attribution.
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          - {in: path, name: period_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Vœux de l'enfant
              content: {application/json: {schema: PortalWishes}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return answer(200, wishes_answer, wishes.child_wishes(household.id, load_path_id("child_id", child_id),
                                                              load_path_id("period_id", period_id, _period_path)))

    @expose("/children/<int:child_id>/wishes/<int:period_id>", methods=["PUT"])
    @protect()
    @service_errors
    def put_wishes(self, child_id: int, period_id: int):
        """Remplacer les vœux classés d'un enfant (modifiables jusqu'à la clôture des vœux).
        ---
        put:
          summary: Enregistrer les vœux d'un enfant
          description: >-
            La liste remplace la précédente ; l'ordre est la préférence. Refus : wishes_not_open,
            wishes_closed, duplicate_week, invalid_week, invalid_stop, stop_required et les raisons
            de réservation (age, household_not_validated, already_booked…).
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          - {in: path, name: period_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalWishesRequest}}
          responses:
            200:
              description: Vœux enregistrés
              content: {application/json: {schema: PortalWishes}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        body = load_body(wishes_request, request.get_json(silent=True))
        period = load_path_id("period_id", period_id, _period_path)
        return answer(200, wishes_answer, wishes.save_wishes(
            household.id, load_path_id("child_id", child_id), period, body["wishes"], actor=g.user))

    @expose("/allocation/<int:period_id>", methods=["GET"])
    @protect()
    @service_errors
    def allocation(self, period_id: int):
        """Le résultat de l'attribution pour le foyer, et pourquoi.
        ---
        get:
          summary: Résultat de l'attribution
          description: >-
            Avant publication : published=false et la date des résultats. Après : les points du foyer
            et leurs critères, le rang au tirage (« 134 sur 412 »), la valeur publique et la graine
            (recalculables, voir la page « Règles d'attribution »), et pour chaque vœu le tour et le
            résultat. Une semaine attribuée se paie par POST /waitlist/{entry_id}/pay.
          parameters:
          - {in: path, name: period_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Résultat et explication
              content: {application/json: {schema: PortalAllocation}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        period = load_path_id("period_id", period_id, _period_path)
        return answer(200, allocation_answer, allocation_reads.explanation(household.id, period))


def register(appbuilder) -> None:
    appbuilder.add_api(PortalWishesApi)
