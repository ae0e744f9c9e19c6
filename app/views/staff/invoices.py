"""Staff screens of the money trail (issue 16): the accountant's export, the numbered documents and
the tax attestations in bulk. Reads only (GET), thin over app.services.payments and
app.services.operations.accounting.

GET /comptabilite/                                       the export form and the attestations' year
GET /comptabilite/export.csv?du=AAAA-MM-JJ&au=…          invoices, credit notes, payments, refunds, totals
GET /comptabilite/factures/<invoice_id>/pdf              an invoice's PDF (any household)
GET /comptabilite/avoirs/<note_id>/pdf                   a credit note's PDF
GET /comptabilite/attestations?annee=AAAA                the households invoiced that year, each with its PDF
GET /comptabilite/attestations/<year>/foyer/<id>/pdf     one household's attestation
GET /comptabilite/attestations/<year>.zip                every household's attestation of the year, zipped
"""
from __future__ import annotations

import io
import zipfile

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.operations import accounting
from app.services.payments import documents_pdf, invoices, tax_attestation
from app.views.helpers import parse_id, service_errors
from app.views.staff.ops_helpers import csv_response, date_arg, paris_today

CATEGORY = "Paiements"
FIRST_YEAR = 2000


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, mimetype=documents_pdf.PDF_MIME, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})


def _year(value) -> int | None:
    """A finished or current calendar year typed by staff; anything else is None."""
    year = parse_id(value)
    return year if year is not None and FIRST_YEAR <= year <= paris_today().year else None


class StaffAccountingView(BaseView):
    route_base = "/comptabilite"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        today = paris_today()
        return self.render_template("staff/accounting/index.html", title="Comptabilité",
                                    start=today.replace(day=1), end=today, year=today.year - 1)

    @expose("/export.csv")
    @has_access
    def export(self):
        start, end = date_arg("du"), date_arg("au")
        if start is None or end is None or end < start:
            flash(_("Indiquez deux dates valides, la première avant la seconde (par exemple du 01/01/2026 "
                    "au 31/01/2026)."), "danger")
            return redirect(url_for(".index"))
        data = accounting.ledger_csv(accounting.ledger(start, end))
        return csv_response(data, f"comptabilite-{start.isoformat()}-{end.isoformat()}.csv")

    @expose("/factures/<int:invoice_id>/pdf")
    @has_access
    @service_errors(".index")
    def invoice_pdf(self, invoice_id: int):
        invoice = invoices.staff_invoice(invoice_id)
        return _pdf(documents_pdf.invoice_pdf(invoice), f"facture-{invoice.number}.pdf")

    @expose("/avoirs/<int:note_id>/pdf")
    @has_access
    @service_errors(".index")
    def credit_note_pdf(self, note_id: int):
        note = invoices.staff_credit_note(note_id)
        return _pdf(documents_pdf.credit_note_pdf(note), f"avoir-{note.number}.pdf")

    @expose("/attestations")
    @has_access
    def attestations(self):
        year = _year(request.args.get("annee"))
        if year is None:
            flash(_("Indiquez une année entre %(first)s et %(last)s.", first=FIRST_YEAR, last=paris_today().year),
                  "danger")
            return redirect(url_for(".index"))
        households = tax_attestation.households_of_year(year)
        return self.render_template("staff/accounting/attestations.html", title=f"Attestations {year}", year=year,
                                    households=households, finished=year < paris_today().year)

    @expose("/attestations/<int:year>/foyer/<int:household_id>/pdf")
    @has_access
    @service_errors(".index")
    def attestation_pdf(self, year: int, household_id: int):
        if _year(year) is None:
            abort(404)
        result = tax_attestation.staff_attestation(household_id, year)
        return _pdf(documents_pdf.attestation_pdf(result), f"attestation-{year}-foyer-{household_id}.pdf")

    @expose("/attestations/<int:year>.zip")
    @has_access
    def attestations_zip(self, year: int):
        if _year(year) is None:
            flash(_("Indiquez une année entre %(first)s et %(last)s.", first=FIRST_YEAR, last=paris_today().year),
                  "danger")
            return redirect(url_for(".index"))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for household_id in tax_attestation.households_for_year(year):
                result = tax_attestation.attestation(household_id, year)
                archive.writestr(f"attestation-{year}-foyer-{household_id}.pdf", documents_pdf.attestation_pdf(result))
        return Response(buffer.getvalue(), mimetype="application/zip", headers={
            "Content-Disposition": f'attachment; filename="attestations-frais-de-garde-{year}.zip"',
            "Cache-Control": "private, no-store"})


def register(appbuilder) -> None:
    appbuilder.add_view(StaffAccountingView, "Comptabilité et attestations", href="/comptabilite/",
                        icon="fa-file-text-o", category=CATEGORY)
