"""A child's authorisations in the parent API (issue 19): the same service as the « Autorisations »
page (app.services.household.consents). Another household's child: 404."""
from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from marshmallow import Schema, fields

from app.api.common import PortalBaseApi, json_response, service_errors
from app.api.schemas import load_path_id
from app.services.household import consents
from app.services.household.links import require_household


class PortalConsentAnswer(Schema):
    question_id = fields.Integer()
    field = fields.String(metadata={"description": "Nom du champ à envoyer (q<id>)"})
    label = fields.String()
    help_text = fields.String(allow_none=True)
    granted = fields.Boolean(allow_none=True, metadata={"description": "null : pas encore répondu"})
    answered_at = fields.DateTime(allow_none=True)


class PortalConsents(Schema):
    consents = fields.List(fields.Nested(PortalConsentAnswer))


class PortalConsentsForm(Schema):
    class Meta:
        description = "Un champ q<id> par question, valeur « oui » ou « non »."


_answers = PortalConsents()


def _dump(answers):
    return json_response(200, _answers.dump({"consents": [
        {"question_id": a.question.id, "field": consents.field_name(a.question), "label": a.question.label,
         "help_text": a.question.help_text, "granted": a.granted, "answered_at": a.answered_at} for a in answers]}))


class PortalConsentsApi(PortalBaseApi):
    resource_name = "portal-consents"
    route_base = "/api/v1/portal/dossier/children"
    openapi_spec_component_schemas = (*PortalBaseApi.openapi_spec_component_schemas, PortalConsents,
                                      PortalConsentsForm)

    @expose("/<int:child_id>/consents", methods=["GET"])
    @protect()
    @service_errors
    def read(self, child_id: int):
        """Les autorisations de l'enfant : chaque question et la réponse du foyer.
        ---
        get:
          summary: Autorisations d'un enfant
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Questions et réponses
              content: {application/json: {schema: PortalConsents}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return _dump(consents.answers(household, load_path_id("child_id", child_id)))

    @expose("/<int:child_id>/consents", methods=["PUT"])
    @protect()
    @service_errors
    def update(self, child_id: int):
        """Répondre à toutes les questions d'autorisation (oui ou non) pour l'enfant.
        ---
        put:
          summary: Enregistrer les autorisations d'un enfant
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalConsentsForm}}
          responses:
            200:
              description: Autorisations enregistrées
              content: {application/json: {schema: PortalConsents}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        body = request.get_json(silent=True)
        data = {key: str(value) for key, value in body.items()} if isinstance(body, dict) else {}
        return _dump(consents.set_answers(household, load_path_id("child_id", child_id), data, actor=g.user))


def register(appbuilder) -> None:
    appbuilder.add_api(PortalConsentsApi)
