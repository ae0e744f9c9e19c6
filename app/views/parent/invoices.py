"""« Mes factures » of the parent area, thin over app.services.payments (issue 16).

GET /famille/factures                          the household's invoices and credit notes, newest first,
                                               and the tax attestations it may ask for
GET /famille/factures/<invoice_id>/pdf         an invoice's PDF (another household's: 404)
GET /famille/avoirs/<note_id>/pdf              a credit note's PDF (another household's: 404)
GET /famille/attestation-fiscale/<year>        the year's attestation of childcare costs (a finished year)
GET /famille/attestation-fiscale/<year>/pdf    its PDF
"""
from __future__ import annotations

from flask import Response, abort
from flask_appbuilder import BaseView, expose, has_access

from app.services.payments import documents_pdf, invoices, tax_attestation
from app.views.helpers import household_required, service_errors

INVOICES = "ParentInvoicesView.invoices"


def pdf_response(data: bytes, filename: str) -> Response:
    """A document of the household: downloaded, never cached by a shared proxy."""
    return Response(data, mimetype=documents_pdf.PDF_MIME, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })


class ParentInvoicesView(BaseView):
    """Invoices, credit notes and tax attestations of the logged-in parent's own household."""

    route_base = "/famille"
    default_view = "invoices"

    @expose("/factures", methods=["GET"])
    @has_access
    @household_required
    def invoices(self, household):
        return self.render_template("parent/invoices/list.html",
                                    documents=invoices.household_documents(household.id),
                                    years=tax_attestation.parent_years(household.id))

    @expose("/factures/<int:invoice_id>/pdf", methods=["GET"])
    @has_access
    @household_required(otherwise=lambda: abort(404))
    @service_errors(INVOICES)
    def invoice_pdf(self, household, invoice_id: int):
        invoice = invoices.household_invoice(household.id, invoice_id)
        return pdf_response(documents_pdf.invoice_pdf(invoice), f"facture-{invoice.number}.pdf")

    @expose("/avoirs/<int:note_id>/pdf", methods=["GET"])
    @has_access
    @household_required(otherwise=lambda: abort(404))
    @service_errors(INVOICES)
    def credit_note_pdf(self, household, note_id: int):
        note = invoices.household_credit_note(household.id, note_id)
        return pdf_response(documents_pdf.credit_note_pdf(note), f"avoir-{note.number}.pdf")

    @expose("/attestation-fiscale/<int:year>", methods=["GET"])
    @has_access
    @household_required
    @service_errors(INVOICES)
    def attestation(self, household, year: int):
        return self.render_template("parent/invoices/attestation.html",
                                    attestation=tax_attestation.parent_attestation(household.id, year))

    @expose("/attestation-fiscale/<int:year>/pdf", methods=["GET"])
    @has_access
    @household_required
    @service_errors(INVOICES)
    def attestation_pdf(self, household, year: int):
        result = tax_attestation.parent_attestation(household.id, year)
        return pdf_response(documents_pdf.attestation_pdf(result), f"attestation-frais-de-garde-{year}.pdf")


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentInvoicesView())
