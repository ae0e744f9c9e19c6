"""Invoices, credit notes and tax attestations in the parent API (JWT only), over the same services
as the « Mes factures » page (issue 16):

GET /api/v1/portal/invoices                          the household's invoices and credit notes, newest first
GET /api/v1/portal/invoices/<id>/pdf                 an invoice's PDF
GET /api/v1/portal/credit-notes/<id>/pdf             a credit note's PDF
GET /api/v1/portal/tax-attestations/<year>           the year's attestation of childcare costs (a finished year)
GET /api/v1/portal/tax-attestations/<year>/pdf       its PDF
Another household's ids answer 404, like ids that do not exist.
"""
from __future__ import annotations

from flask import Response, g, url_for
from flask_appbuilder.api import expose
from flask_appbuilder.security.decorators import protect
from marshmallow import Schema, fields
from marshmallow.validate import OneOf

from app.api.common import PortalBaseApi, answer, service_errors
from app.api.schemas import id_field, load_path_id
from app.services.household.links import require_household
from app.services.payments import documents_pdf, invoices, tax_attestation


class PortalInvoicePath(Schema):
    invoice_id = id_field("invoice_id", "d'une de vos factures", code="not_found")


class PortalCreditNotePath(Schema):
    note_id = id_field("note_id", "d'un de vos avoirs", code="not_found")


class PortalDocument(Schema):
    kind = fields.String(required=True, validate=OneOf(("invoice", "credit_note")), metadata={
        "description": "invoice : facture d'un panier payé ; "
                       "credit_note : avoir (semaine annulée, geste, remboursement)."})
    id = fields.Integer(required=True)
    number = fields.String(required=True, metadata={"description": "FA-2026-000123 ou AV-2026-000045."})
    issued_at = fields.String(required=True, metadata={"format": "date-time"})
    amount_cents = fields.Integer(required=True, metadata={"description": "Montant TTC en centimes d'euro."})
    label = fields.String(required=True)
    invoice_number = fields.String(allow_none=True, metadata={
        "description": "Pour un avoir : la facture à laquelle il se rapporte."})
    pdf_url = fields.String(required=True, metadata={"description": "Le PDF du document (même jeton)."})


class PortalDocuments(Schema):
    documents = fields.List(fields.Nested(PortalDocument), required=True)
    attestation_years = fields.List(fields.Integer(), required=True, metadata={
        "description": "Les années écoulées dont l'attestation de frais de garde peut être demandée."})


class PortalAttestationLine(Schema):
    week_label = fields.String(required=True)
    establishment_name = fields.String(required=True)
    invoice_number = fields.String(required=True)
    eligible_cents = fields.Integer(required=True, metadata={
        "description": "Part éligible : accueil de loisirs, hors repas et bus, remboursements et avoirs déduits."})


class PortalAttestationChild(Schema):
    child_name = fields.String(required=True)
    birth_date = fields.String(required=True, metadata={"format": "date"})
    total_cents = fields.Integer(required=True)
    lines = fields.List(fields.Nested(PortalAttestationLine), required=True)


class PortalAttestation(Schema):
    year = fields.Integer(required=True)
    household_name = fields.String(required=True)
    total_cents = fields.Integer(required=True, metadata={"description": "Total à déclarer, en centimes d'euro."})
    children = fields.List(fields.Nested(PortalAttestationChild), required=True, metadata={
        "description": "Les enfants de moins de 6 ans au 1er janvier de l'année pour lesquels le foyer a payé."})
    pdf_url = fields.String(required=True)


ANSWER_SCHEMAS = (PortalDocument, PortalDocuments, PortalAttestationLine, PortalAttestationChild, PortalAttestation)

documents_answer = PortalDocuments()
attestation_answer = PortalAttestation()
_invoice_path = PortalInvoicePath()
_note_path = PortalCreditNotePath()


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, mimetype=documents_pdf.PDF_MIME, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})


def _document(row: invoices.DocumentRow) -> dict:
    if row.kind == "invoice":
        pdf_url = url_for("PortalInvoicesApi.invoice_pdf", invoice_id=row.id)
    else:
        pdf_url = url_for("PortalInvoicesApi.credit_note_pdf", note_id=row.id)
    return {"kind": row.kind, "id": row.id, "number": row.number, "issued_at": row.issued_at.isoformat(),
            "amount_cents": row.amount_cents, "label": row.label, "invoice_number": row.invoice_number,
            "pdf_url": pdf_url}


class PortalInvoicesApi(PortalBaseApi):
    resource_name = "portal-invoices"
    route_base = "/api/v1/portal"
    openapi_spec_component_schemas = PortalBaseApi.openapi_spec_component_schemas + ANSWER_SCHEMAS

    @expose("/invoices", methods=["GET"])
    @protect()
    @service_errors
    def invoices(self):
        """Les factures et avoirs du foyer.
        ---
        get:
          summary: Mes factures et avoirs
          description: >-
            Une facture par panier payé (carte, accueil, avoir), numérotée FA-année-numéro, et les
            avoirs AV-année-numéro (semaine annulée, geste, remboursement), du plus récent au plus
            ancien, chacun avec l'adresse de son PDF ; et les années dont l'attestation de frais de
            garde peut être demandée. Montants en centimes d'euro.
          responses:
            200:
              description: Les documents du foyer
              content: {application/json: {schema: PortalDocuments}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        return answer(200, documents_answer, {
            "documents": [_document(row) for row in invoices.household_documents(household.id)],
            "attestation_years": tax_attestation.parent_years(household.id)})

    @expose("/invoices/<int:invoice_id>/pdf", methods=["GET"])
    @protect()
    @service_errors
    def invoice_pdf(self, invoice_id: int):
        """Le PDF d'une facture du foyer.
        ---
        get:
          summary: PDF d'une facture
          parameters:
          - {in: path, name: invoice_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: La facture en PDF
              content: {application/pdf: {schema: {type: string, format: binary}}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        invoice = invoices.household_invoice(household.id, load_path_id("invoice_id", invoice_id, _invoice_path))
        return _pdf(documents_pdf.invoice_pdf(invoice), f"facture-{invoice.number}.pdf")

    @expose("/credit-notes/<int:note_id>/pdf", methods=["GET"])
    @protect()
    @service_errors
    def credit_note_pdf(self, note_id: int):
        """Le PDF d'un avoir du foyer.
        ---
        get:
          summary: PDF d'un avoir
          parameters:
          - {in: path, name: note_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: L'avoir en PDF
              content: {application/pdf: {schema: {type: string, format: binary}}}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        note = invoices.household_credit_note(household.id, load_path_id("note_id", note_id, _note_path))
        return _pdf(documents_pdf.credit_note_pdf(note), f"avoir-{note.number}.pdf")

    @expose("/tax-attestations/<int:year>", methods=["GET"])
    @protect()
    @service_errors
    def tax_attestation(self, year: int):
        """L'attestation de frais de garde d'une année écoulée.
        ---
        get:
          summary: Attestation de frais de garde (article 200 quater B du CGI)
          description: >-
            Ce que le foyer a payé dans l'année pour l'accueil de loisirs sans hébergement de ses
            enfants de moins de 6 ans au 1er janvier, repas et bus exclus, remboursements et avoirs
            déduits. Disponible à partir du 1er janvier de l'année suivante (sinon 400,
            code attestation_year). Chaque foyer d'un enfant de parents séparés n'y voit que ce qu'il a payé.
          parameters:
          - {in: path, name: year, required: true, schema: {type: integer, example: 2025}}
          responses:
            200:
              description: L'attestation, enfant par enfant
              content: {application/json: {schema: PortalAttestation}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        result = tax_attestation.parent_attestation(household.id, year)
        return answer(200, attestation_answer, {
            "year": result.year, "household_name": result.household_name, "total_cents": result.total_cents,
            "pdf_url": url_for("PortalInvoicesApi.tax_attestation_pdf", year=result.year),
            "children": [{"child_name": child.child_name, "birth_date": child.birth_date.isoformat(),
                          "total_cents": child.total_cents,
                          "lines": [vars(line) for line in child.lines]} for child in result.children]})

    @expose("/tax-attestations/<int:year>/pdf", methods=["GET"])
    @protect()
    @service_errors
    def tax_attestation_pdf(self, year: int):
        """Le PDF de l'attestation de frais de garde d'une année écoulée.
        ---
        get:
          summary: PDF de l'attestation de frais de garde
          parameters:
          - {in: path, name: year, required: true, schema: {type: integer, example: 2025}}
          responses:
            200:
              description: L'attestation en PDF, à joindre à la déclaration de revenus
              content: {application/pdf: {schema: {type: string, format: binary}}}
            400: {$ref: '#/components/responses/PortalInvalid'}
            401: {$ref: '#/components/responses/401'}
            404: {$ref: '#/components/responses/PortalNotFound'}
        """
        household = require_household(g.user)
        result = tax_attestation.parent_attestation(household.id, year)
        return _pdf(documents_pdf.attestation_pdf(result), f"attestation-frais-de-garde-{year}.pdf")


def register(appbuilder) -> None:
    appbuilder.add_api(PortalInvoicesApi)
