"""The household file (« Mon dossier ») and the rest of the parent pages' actions in the parent API
(JWT only), over the very services the pages call, with the same French refusals (issue 20):

GET    /api/v1/portal/dossier                              the file: status, household, guardians,
                                                           children, documents, what is missing
PUT    /api/v1/portal/dossier/household                    « Mon foyer » (the whole form)
POST   /api/v1/portal/dossier/guardians                    add a legal guardian
PUT    /api/v1/portal/dossier/guardians/<id>               change a guardian (the whole form)
DELETE /api/v1/portal/dossier/guardians/<id>               remove a guardian
POST   /api/v1/portal/dossier/children                     add a child
PUT    /api/v1/portal/dossier/children/<id>                identity and school (the whole form)
DELETE /api/v1/portal/dossier/children/<id>                remove a child from the file
PUT    /api/v1/portal/dossier/children/<id>/health         the health form
POST   /api/v1/portal/dossier/children/<id>/pickups        add an authorised pick-up person
DELETE /api/v1/portal/dossier/pickups/<id>                 remove one
POST   /api/v1/portal/dossier/documents                    upload a document (multipart)
GET    /api/v1/portal/dossier/documents/<id>               download one of the household's documents
DELETE /api/v1/portal/dossier/documents/<id>               take back a document not yet checked
POST   /api/v1/portal/dossier/submit                       « Envoyer mon dossier »
POST   /api/v1/portal/reservations/<id>/stop               change a confirmed week's bus stop
POST   /api/v1/portal/basket/checkout/abandon              close the payment page to change the basket
GET    /api/v1/portal/receipts                             the paid baskets (receipts)
GET    /api/v1/portal/receipts/<basket_id>                 one receipt: lines, amounts, payments, organiser

Field values are what the page's form sends (text; true/false for a checkbox): a field left out of a
PUT is emptied, exactly as on the page. Refused values answer 400 with `details.errors`, one French
message per field. Another household's ids are 404.
"""
from __future__ import annotations

from datetime import date, datetime

from flask import g, request, send_file
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _
from marshmallow import Schema, fields

from app.api.common import PortalBaseApi, answer, service_errors
from app.api.schemas import id_field, load_path_id, message_answer
from app.models import TransportMode
from app.models.types import parse_id
from app.services import payments
from app.services.booking import basket as basket_service
from app.services.errors import ValidationFailed
from app.services.household import checklist, documents, dossier, validity
from app.services.household.links import require_household
from app.services.localize import PAYMENT_METHOD_LABELS
from app.services.payments.invoices import invoice_of_basket
from app.services.payments.organiser import get_organiser


def _fields_schema(name: str, names: list[str]) -> type[Schema]:
    """The OpenAPI description of a form's fields (the services check the values)."""
    return Schema.from_dict({field: fields.Raw(allow_none=True) for field in names}, name=name)


PortalHouseholdForm = _fields_schema("PortalHouseholdForm", dossier.HOUSEHOLD_FIELDS)
PortalGuardianForm = _fields_schema("PortalGuardianForm", dossier.GUARDIAN_FIELDS)
PortalChildForm = _fields_schema("PortalChildForm", dossier.CHILD_IDENTITY_FIELDS + dossier.CHILD_SCHOOL_FIELDS)
PortalHealthForm = _fields_schema("PortalHealthForm", dossier.HEALTH_FIELDS)
PortalPickupForm = _fields_schema("PortalPickupForm", ["name", "phone", "relationship_label"])


class PortalStopChange(Schema):
    stop_id = fields.Integer(required=True, metadata={"description": "Nouvel arrêt, sur un circuit de la période."})


class PortalDossierDocument(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    child_id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    status = fields.String(required=True)
    refusal_reason = fields.String(allow_none=True)
    uploaded_at = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True, metadata={
        "description": "Dernier jour de validité de la pièce (AAAA-MM-JJ), selon son type ; null : valable "
                       "jusqu'à ce qu'elle soit remplacée."})
    expired = fields.Boolean(required=True, metadata={
        "description": "Vrai quand la pièce n'est plus valable aujourd'hui : envoyez-en une nouvelle."})


class PortalDossier(Schema):
    status = fields.String(required=True)
    status_label = fields.String(required=True)
    household = fields.Dict(required=True)
    guardians = fields.List(fields.Dict(), required=True)
    children = fields.List(fields.Dict(), required=True)
    documents = fields.List(fields.Nested(PortalDossierDocument), required=True)
    missing = fields.List(fields.Dict(), required=True, metadata={
        "description": "Ce qui manque avant de pouvoir envoyer le dossier : code et libellé en français."})


class PortalCreated(Schema):
    id = fields.Integer(required=True)
    message = fields.String(required=True)


class PortalReceipts(Schema):
    receipts = fields.List(fields.Dict(), required=True)


class PortalReceiptLine(Schema):
    id = fields.Integer(required=True)
    child = fields.String(required=True)
    establishment = fields.String(required=True)
    week = fields.String(required=True)
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "confirmed ou cancelled (semaine annulée)."})
    cancel_reason = fields.String(allow_none=True)
    transport = fields.Dict(required=True, metadata={
        "description": "mode (bus ou onsite) ; pour le bus : circuit, stop, pickup_time, dropoff_time."})
    price_cents = fields.Integer(required=True)
    bus_price_cents = fields.Integer(required=True)


class PortalReceipt(Schema):
    basket_id = fields.Integer(required=True)
    confirmed_at = fields.String(allow_none=True)
    household = fields.Dict(required=True, metadata={"description": "Nom et adresse de la famille."})
    organiser = fields.Dict(required=True, metadata={
        "description": "L'organisateur : name, address, siret, regie_name, regie_number."})
    lines = fields.List(fields.Nested(PortalReceiptLine), required=True)
    payments = fields.List(fields.Dict(), required=True, metadata={
        "description": "method, method_label, amount_cents, paid_at, provider_payment_ref."})
    refunds = fields.List(fields.Dict(), required=True, metadata={"description": "amount_cents, created_at, reason."})
    paid_cents = fields.Integer(required=True)
    refunded_cents = fields.Integer(required=True)
    kept_cents = fields.Integer(required=True, metadata={"description": "Montant restant acquitté."})
    invoice = fields.Dict(allow_none=True, metadata={"description": "La facture du panier : id, number."})


dossier_answer = PortalDossier()
created_answer = PortalCreated()
receipts_answer = PortalReceipts()
receipt_answer = PortalReceipt()
ANSWER_SCHEMAS = (PortalHouseholdForm, PortalGuardianForm, PortalChildForm, PortalHealthForm, PortalPickupForm,
                  PortalStopChange, PortalDossierDocument, PortalDossier, PortalCreated, PortalReceipts,
                  PortalReceiptLine, PortalReceipt)


def _plain(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _values(obj, names) -> dict:
    return {name: _plain(getattr(obj, name, None)) for name in names}


def _form_body() -> dict:
    """The JSON object of a form's fields; anything else is a clear 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(_("Le corps de la requête doit être un objet JSON (champ : valeur)."), code="invalid")
    return body


def _document(document, today: date) -> dict:
    """One proof with its validity end, computed by the validity service (the checklist's rule)."""
    until = validity.valid_until(document) if document.uploaded_at is not None else None
    return {"id": document.id, "kind": document.kind, "child_id": document.child_id,
            "name": document.original_name, "status": document.status,
            "refusal_reason": document.refusal_reason, "uploaded_at": _plain(document.uploaded_at),
            "valid_until": _plain(until), "expired": until is not None and until < today}


def _dossier(household) -> dict:
    links = checklist.active_links(household)
    today = validity.paris_today()
    return {
        "status": household.status,
        "status_label": str(dossier.status_label(household)),
        "household": _values(household, dossier.HOUSEHOLD_FIELDS),
        "guardians": [{"id": guardian.id, **_values(guardian, dossier.GUARDIAN_FIELDS)}
                      for guardian in household.guardians],
        "children": [{"id": link.child.id, "link_status": link.status,
                      **(_values(link.child, dossier.CHILD_IDENTITY_FIELDS + dossier.CHILD_SCHOOL_FIELDS)
                         if dossier.can_see_child_details(link) else
                         {"first_name": link.child.first_name, "last_name": link.child.last_name})}
                     for link in links],
        "documents": [_document(document, today) for document in household.documents],
        "missing": [{"code": item.code, "label": str(item.label)}
                    for item in checklist.evaluate(household) if not item.done],
    }


class PortalDossierApi(PortalBaseApi):
    resource_name = "portal-dossier"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + ANSWER_SCHEMAS

    @expose("/dossier", methods=["GET"])
    @protect()
    @service_errors
    def show(self):
        """Le dossier famille.
        ---
        get:
          summary: Mon dossier
          description: >-
            Statut, informations du foyer, responsables légaux, enfants, pièces envoyées et ce qui manque
            encore avant de pouvoir envoyer le dossier.
          responses:
            200:
              description: Dossier famille
              content: {application/json: {schema: PortalDossier}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        return answer(200, dossier_answer, _dossier(require_household(g.user)))

    @expose("/dossier/household", methods=["PUT"])
    @protect()
    @service_errors
    def household(self):
        """Enregistrer « Mon foyer ».
        ---
        put:
          summary: Informations du foyer
          description: Le formulaire entier ; un champ absent est vidé, comme sur la page.
          requestBody:
            required: true
            content: {application/json: {schema: PortalHouseholdForm}}
          responses:
            200:
              description: Enregistré
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        changed = dossier.update_household(household, _form_body(), actor=g.user)
        return answer(200, message_answer, {"message": _("Informations du foyer enregistrées.") if changed
                                            else _("Aucune modification.")})

    @expose("/dossier/guardians", methods=["POST"])
    @protect()
    @service_errors
    def guardian_add(self):
        """Ajouter un responsable légal.
        ---
        post:
          summary: Ajouter un responsable légal
          requestBody:
            required: true
            content: {application/json: {schema: PortalGuardianForm}}
          responses:
            201:
              description: Ajouté
              content: {application/json: {schema: PortalCreated}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        guardian = dossier.save_guardian(household, _form_body(), actor=g.user)
        return answer(201, created_answer, {"id": guardian.id, "message": _("Responsable légal enregistré.")})

    @expose("/dossier/guardians/<int:guardian_id>", methods=["PUT"])
    @protect()
    @service_errors
    def guardian_edit(self, guardian_id: int):
        """Modifier un responsable légal.
        ---
        put:
          summary: Modifier un responsable légal
          parameters:
          - {in: path, name: guardian_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalGuardianForm}}
          responses:
            200:
              description: Enregistré
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        guardian_id = _path_id("guardian_id", guardian_id)
        dossier.household_guardian(household, guardian_id)
        dossier.save_guardian(household, _form_body(), guardian_id=guardian_id, actor=g.user)
        return answer(200, message_answer, {"message": _("Responsable légal enregistré.")})

    @expose("/dossier/guardians/<int:guardian_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def guardian_remove(self, guardian_id: int):
        """Retirer un responsable légal.
        ---
        delete:
          summary: Retirer un responsable légal
          parameters:
          - {in: path, name: guardian_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Retiré
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        dossier.remove_guardian(household, _path_id("guardian_id", guardian_id), actor=g.user)
        return answer(200, message_answer, {"message": _("Responsable légal retiré du dossier.")})

    @expose("/dossier/children", methods=["POST"])
    @protect()
    @service_errors
    def child_add(self):
        """Ajouter un enfant au dossier.
        ---
        post:
          summary: Ajouter un enfant
          requestBody:
            required: true
            content: {application/json: {schema: PortalChildForm}}
          responses:
            201:
              description: Ajouté (ou rattachement à confirmer par le Pôle Jeunesse)
              content: {application/json: {schema: PortalCreated}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        added = dossier.add_child(household, _form_body(), actor=g.user)
        return answer(201, created_answer, {"id": added.link.child_id, "message": str(added.message)})

    @expose("/dossier/children/<int:child_id>", methods=["PUT"])
    @protect()
    @service_errors
    def child_edit(self, child_id: int):
        """Modifier l'identité et la scolarité d'un enfant.
        ---
        put:
          summary: Modifier un enfant
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalChildForm}}
          responses:
            200:
              description: Enregistré
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        dossier.update_child(household, _path_id("child_id", child_id), _form_body(), actor=g.user)
        return answer(200, message_answer, {"message": _("Informations de l'enfant enregistrées.")})

    @expose("/dossier/children/<int:child_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def child_remove(self, child_id: int):
        """Retirer un enfant du dossier.
        ---
        delete:
          summary: Retirer un enfant
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Retiré
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        dossier.remove_child(household, _path_id("child_id", child_id), actor=g.user)
        return answer(200, message_answer, {"message": _("Enfant retiré de votre dossier.")})

    @expose("/dossier/children/<int:child_id>/health", methods=["PUT"])
    @protect()
    @service_errors
    def child_health(self, child_id: int):
        """Enregistrer la fiche sanitaire d'un enfant.
        ---
        put:
          summary: Fiche sanitaire
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalHealthForm}}
          responses:
            200:
              description: Enregistrée
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        dossier.update_health(household, _path_id("child_id", child_id), _form_body(), actor=g.user)
        return answer(200, message_answer, {"message": _("Fiche sanitaire enregistrée.")})

    @expose("/dossier/children/<int:child_id>/pickups", methods=["POST"])
    @protect()
    @service_errors
    def pickup_add(self, child_id: int):
        """Ajouter une personne autorisée à venir chercher l'enfant.
        ---
        post:
          summary: Ajouter une personne autorisée
          parameters:
          - {in: path, name: child_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalPickupForm}}
          responses:
            201:
              description: Ajoutée
              content: {application/json: {schema: PortalCreated}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        pickup = dossier.add_pickup(household, _path_id("child_id", child_id), _form_body(), actor=g.user)
        return answer(201, created_answer, {"id": pickup.id, "message": _("Personne autorisée ajoutée.")})

    @expose("/dossier/pickups/<int:pickup_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def pickup_remove(self, pickup_id: int):
        """Retirer une personne autorisée.
        ---
        delete:
          summary: Retirer une personne autorisée
          parameters:
          - {in: path, name: pickup_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Retirée
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        dossier.remove_pickup(household, _path_id("pickup_id", pickup_id), actor=g.user)
        return answer(200, message_answer, {"message": _("Personne autorisée retirée.")})

    @expose("/dossier/documents", methods=["POST"])
    @protect()
    @service_errors
    def document_upload(self):
        """Envoyer une pièce justificative.
        ---
        post:
          summary: Envoyer une pièce
          description: PDF, JPEG ou PNG, 5 Mo au plus ; `kind` est le type de pièce, `child_id` l'enfant concerné.
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  required: [file, kind]
                  properties:
                    file: {type: string, format: binary}
                    kind: {type: string}
                    child_id: {type: integer}
          responses:
            201:
              description: Pièce enregistrée, à vérifier par le Pôle Jeunesse
              content: {application/json: {schema: PortalCreated}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        upload = request.files.get("file")
        data = upload.read(documents.MAX_BYTES + 1) if upload is not None else b""
        document = documents.add_document(household, request.form.get("kind") or "",
                                          upload.filename if upload is not None else "", data,
                                          child_id=parse_id(request.form.get("child_id")), actor=g.user)
        return answer(201, created_answer, {"id": document.id,
                                            "message": _("Pièce envoyée : elle sera vérifiée par le Pôle Jeunesse.")})

    @expose("/dossier/documents/<int:document_id>", methods=["GET"])
    @protect()
    @service_errors
    def document_download(self, document_id: int):
        """Télécharger une pièce du foyer.
        ---
        get:
          summary: Télécharger une pièce
          parameters:
          - {in: path, name: document_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Le fichier (PDF, JPEG ou PNG)
              content:
                application/octet-stream:
                  schema: {type: string, format: binary}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        document = documents.household_document(household.id, _path_id("document_id", document_id))
        stored = documents.stored_file(document)
        response = send_file(stored.path, mimetype=stored.content_type, as_attachment=True,
                             download_name=stored.download_name, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/dossier/documents/<int:document_id>", methods=["DELETE"])
    @protect()
    @service_errors
    def document_remove(self, document_id: int):
        """Retirer une pièce pas encore vérifiée.
        ---
        delete:
          summary: Retirer une pièce
          parameters:
          - {in: path, name: document_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Retirée
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        documents.delete_document(household, _path_id("document_id", document_id), actor=g.user)
        return answer(200, message_answer, {"message": _("Pièce retirée.")})

    @expose("/dossier/submit", methods=["POST"])
    @protect()
    @service_errors
    def submit(self):
        """Envoyer le dossier au Pôle Jeunesse.
        ---
        post:
          summary: Envoyer mon dossier
          description: Refusé (400, code incomplete_file, details.missing) tant qu'il manque quelque chose.
          responses:
            200:
              description: Dossier envoyé
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        dossier.submit(household, actor=g.user)
        return answer(200, message_answer, {"message": _("Votre dossier a été envoyé au Pôle Jeunesse.")})

    @expose("/reservations/<int:line_id>/stop", methods=["POST"])
    @protect()
    @service_errors
    def change_stop(self, line_id: int):
        """Changer l'arrêt de bus d'une semaine confirmée (jusqu'à la date limite de la période).
        ---
        post:
          summary: Changer d'arrêt
          parameters:
          - {in: path, name: line_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content: {application/json: {schema: PortalStopChange}}
          responses:
            200:
              description: Arrêt changé
              content: {application/json: {schema: PortalMessage}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
            503: {$ref: '#/components/responses/PortalBusy'}
        """
        household = require_household(g.user)
        line_id = load_path_id("line_id", line_id)
        body = _form_body()
        stop_id = body.get("stop_id")
        if isinstance(stop_id, bool) or not isinstance(stop_id, int) or stop_id < 1:
            raise ValidationFailed(_("Choisissez un arrêt dans la liste."), code="invalid_stop", field="stop_id")
        basket_service.change_stop(household.id, line_id, {"mode": TransportMode.BUS, "stop_id": stop_id},
                                   actor=g.user)
        return answer(200, message_answer, {"message": _("L'arrêt de bus a été modifié.")})

    @expose("/basket/checkout/abandon", methods=["POST"])
    @protect()
    @service_errors
    def abandon_checkout(self):
        """Fermer la page de paiement pour modifier le panier (les places restent réservées).
        ---
        post:
          summary: Modifier le panier pendant le paiement
          responses:
            200:
              description: Page de paiement fermée, ou paiement déjà abouti
              content: {application/json: {schema: PortalMessage}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
            409: {$ref: '#/components/responses/PortalConflict'}
        """
        household = require_household(g.user)
        if payments.abandon_checkout(household.id, actor=g.user) == "paid":
            return answer(200, message_answer, {
                "message": _("Votre paiement avait déjà abouti : vos inscriptions sont confirmées.")})
        return answer(200, message_answer, {"message": _(
            "La page de paiement est fermée : vous pouvez modifier votre panier. "
            "Vos places restent réservées jusqu'à l'heure indiquée.")})

    @expose("/receipts", methods=["GET"])
    @protect()
    @service_errors
    def receipts(self):
        """Les paniers payés du foyer (reçus).
        ---
        get:
          summary: Mes reçus
          responses:
            200:
              description: Paniers payés
              content: {application/json: {schema: PortalReceipts}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return answer(200, receipts_answer, {"receipts": [
            {"basket_id": basket.id, "confirmed_at": _plain(basket.confirmed_at)}
            for basket in payments.paid_baskets(household.id)]})

    @expose("/receipts/<int:basket_id>", methods=["GET"])
    @protect()
    @service_errors
    def receipt(self, basket_id: int):
        """Un reçu : ce que montre la page « Reçu » (/famille/recu/<id>).
        ---
        get:
          summary: Un reçu de paiement
          parameters:
          - {in: path, name: basket_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: Le reçu (inscriptions, montants, règlements, organisateur)
              content: {application/json: {schema: PortalReceipt}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        basket = payments.receipt(household.id, _path_id("basket_id", basket_id))
        return answer(200, receipt_answer, _receipt(basket, household))


def _receipt(basket, household) -> dict:
    """What the receipt page shows, in the same rows (a refunded or cancelled line included)."""
    paid = [p for p in basket.payments if p.status in payments.PAID_STATES]
    refunds = [r for p in paid for r in p.refunds if r.status == "succeeded"]
    organiser = get_organiser()
    invoice = invoice_of_basket(basket.id)
    paid_cents, refunded_cents = sum(p.amount_cents for p in paid), sum(r.amount_cents for r in refunds)
    lines = []
    for line in basket.lines:
        if line.status not in ("confirmed", "cancelled"):
            continue
        transport: dict = {"mode": line.transport_mode}
        if line.transport_mode == TransportMode.BUS and line.stop is not None:
            transport.update(circuit=line.circuit.name if line.circuit else None, stop=line.stop.name,
                             pickup_time=line.stop.pickup_time.strftime("%H:%M"),
                             dropoff_time=line.stop.dropoff_time.strftime("%H:%M"))
        lines.append({"id": line.id, "child": line.child.full_name,
                      "establishment": line.week.period.establishment.name, "week": line.week.label,
                      "starts_on": line.week.starts_on.isoformat(), "ends_on": line.week.ends_on.isoformat(),
                      "status": line.status,
                      "cancel_reason": line.cancel_reason, "transport": transport, "price_cents": line.price_cents,
                      "bus_price_cents": line.bus_price_cents or 0})
    return {
        "basket_id": basket.id, "confirmed_at": _plain(basket.confirmed_at),
        "household": {"name": household.name, "address_line": household.address_line,
                      "postcode": household.postcode, "city": household.city},
        "organiser": {"name": organiser.name, "address": organiser.address, "siret": organiser.siret,
                      "regie_name": organiser.regie_name, "regie_number": organiser.regie_number},
        "lines": lines,
        "payments": [{"method": p.method, "method_label": PAYMENT_METHOD_LABELS.get(p.method, p.method),
                      "amount_cents": p.amount_cents, "paid_at": _plain(p.paid_at),
                      "provider_payment_ref": p.provider_payment_ref} for p in paid],
        "refunds": [{"amount_cents": r.amount_cents, "created_at": _plain(r.created_at), "reason": r.reason}
                    for r in refunds],
        "paid_cents": paid_cents, "refunded_cents": refunded_cents, "kept_cents": paid_cents - refunded_cents,
        "invoice": {"id": invoice.id, "number": invoice.number} if invoice else None,
    }


_PATHS = {name: Schema.from_dict({name: id_field(name, what, code="not_found")})()
          for name, what in (("guardian_id", "d'un responsable légal du foyer"), ("child_id", "d'un enfant du foyer"),
                             ("pickup_id", "d'une personne autorisée"), ("document_id", "d'une pièce du foyer"),
                             ("basket_id", "d'un reçu du foyer"))}


def _path_id(name: str, value) -> int:
    """A path id checked like every other (out of range: 404, no such row)."""
    return load_path_id(name, value, _PATHS[name])


def register(appbuilder) -> None:
    appbuilder.add_api(PortalDossierApi)
