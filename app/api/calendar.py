"""The household's private calendar feed (ICS) in the parent API (JWT only), over the same service
as the « Mon agenda » page:

GET  /api/v1/portal/calendar         the feed's address (null until asked for)
POST /api/v1/portal/calendar         create the address (the existing one if any)
POST /api/v1/portal/calendar/renew   a new address: the previous one stops working
"""
from __future__ import annotations

from flask import g
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from marshmallow import Schema, fields

from app.api.common import PortalBaseApi, answer, service_errors
from app.services.booking import calendar
from app.services.household.links import require_household


class PortalCalendar(Schema):
    url = fields.String(allow_none=True, required=True, metadata={
        "description": "Adresse de l'agenda (ICS) des semaines confirmées, à ajouter comme abonnement dans une "
                       "application d'agenda ; null tant que le lien n'a pas été créé. Personnelle : qui la "
                       "connaît voit les semaines des enfants."})


calendar_answer = PortalCalendar()


class PortalCalendarApi(PortalBaseApi):
    resource_name = "portal-calendar"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + (PortalCalendar,)

    @expose("/calendar", methods=["GET"])
    @protect()
    @service_errors
    def calendar_link(self):
        """L'adresse de l'agenda du foyer.
        ---
        get:
          summary: Lien d'agenda (ICS)
          responses:
            200:
              description: Adresse de l'agenda, ou null
              content: {application/json: {schema: PortalCalendar}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        token = calendar.feed_token(household.id)
        return answer(200, calendar_answer, {"url": calendar.feed_url(token) if token else None})

    @expose("/calendar", methods=["POST"])
    @protect()
    @service_errors
    def create_calendar_link(self):
        """Créer l'adresse de l'agenda du foyer (la même si elle existe déjà).
        ---
        post:
          summary: Créer le lien d'agenda
          responses:
            200:
              description: Adresse de l'agenda
              content: {application/json: {schema: PortalCalendar}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        token = calendar.ensure_feed_token(household.id, actor=g.user)
        return answer(200, calendar_answer, {"url": calendar.feed_url(token)})

    @expose("/calendar/renew", methods=["POST"])
    @protect()
    @service_errors
    def renew_calendar_link(self):
        """Remplacer l'adresse de l'agenda : l'ancienne cesse aussitôt de fonctionner.
        ---
        post:
          summary: Renouveler le lien d'agenda
          responses:
            200:
              description: Nouvelle adresse de l'agenda
              content: {application/json: {schema: PortalCalendar}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        token = calendar.renew_feed_token(household.id, actor=g.user)
        return answer(200, calendar_answer, {"url": calendar.feed_url(token)})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalCalendarApi)
