"""The family's data rights in the parent API (GDPR, issue 19): the same two actions as the « Mes
données » page (app/views/parent/privacy.py), over app.services.operations.privacy."""
from __future__ import annotations

from flask import Response, g
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _

from app.api import schemas
from app.api.common import PortalBaseApi, answer, service_errors
from app.services.household.links import require_household
from app.services.operations import privacy


class PortalPrivacyApi(PortalBaseApi):
    resource_name = "portal-privacy"
    route_base = "/api/v1/portal/data"

    @expose("/export", methods=["GET"])
    @protect()
    @service_errors
    def export(self):
        """Les données du foyer : un ZIP avec foyer.json et toutes les pièces envoyées.
        ---
        get:
          summary: Télécharger les données du foyer
          description: >-
            Un fichier ZIP : foyer.json (dossier, enfants et fiche sanitaire, quotients, inscriptions,
            vœux, liste d'attente, paiements, factures, avoirs, courriels envoyés) et le dossier
            documents/ avec chaque pièce justificative du foyer.
          responses:
            200:
              description: Archive ZIP
              content:
                application/zip:
                  schema: {type: string, format: binary}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        name, data = privacy.export_zip(household.id, actor=g.user)
        response = Response(data, mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/erasure-request", methods=["POST"])
    @protect()
    @service_errors
    def erasure_request(self):
        """Demander l'effacement des données du foyer (le Pôle Jeunesse l'effectue).
        ---
        post:
          summary: Demander l'effacement des données
          description: >-
            Transmet la demande au Pôle Jeunesse, qui efface le dossier une fois les séjours en cours
            terminés et les sommes dues réglées ou remboursées. Les factures restent conservées 10 ans.
          responses:
            202:
              description: Demande transmise
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        privacy.request_erasure(household.id, g.user)
        return answer(202, schemas.message_answer, {
            "message": _("Votre demande d'effacement est transmise au Pôle Jeunesse, qui vous répondra par courriel.")})


def register(appbuilder) -> None:
    appbuilder.add_api(PortalPrivacyApi)
