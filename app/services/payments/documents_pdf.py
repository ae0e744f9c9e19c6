"""The PDF documents of the money trail, printed with fpdf2: invoices, credit notes, tax attestations.

Why fpdf2 with a shipped DejaVu Sans (app/fonts/, its licence beside it): the core PDF fonts have no
« € » in Latin-1 and no narrow no-break space; an embedded TrueType font prints every French
character on any machine, and fpdf2 embeds only the glyphs used. Each document starts with the
organiser's identity (app/services/payments/organiser.py). Reads only: no transaction here.
"""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

from fpdf import FPDF

from app.models import CreditNote, Invoice, db
from app.services.localize import PAYMENT_METHOD_LABELS, date_fr, datetime_fr, euros
from app.services.payments.organiser import get_organiser
from app.services.payments.tax_attestation import Attestation

FONT_DIR = Path(__file__).resolve().parents[2] / "fonts"
FONT = "DejaVu"
PDF_MIME = "application/pdf"


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(format="A4")
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_title(title)
        self.set_author(get_organiser().name)
        self.set_auto_page_break(auto=True, margin=18)
        self.add_page()
        self._header_identity()
        self.set_font(FONT, "B", 15)
        self.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")

    def _header_identity(self) -> None:
        organiser = get_organiser()
        top = self.get_y()
        if organiser.logo:
            try:
                self.image(BytesIO(organiser.logo), x=self.l_margin, y=top, h=18)
                self.set_left_margin(self.l_margin + 45)
            except Exception:  # noqa: BLE001 - a logo fpdf2 cannot read must not stop an invoice
                pass
        self.set_xy(self.l_margin, top)
        self.set_font(FONT, "B", 11)
        self.multi_cell(0, 5, organiser.name, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 9)
        details = [organiser.address]
        if organiser.siret:
            details.append(f"SIRET {organiser.siret}")
        if organiser.regie_name or organiser.regie_number:
            details.append(" ".join(part for part in ("Régie", organiser.regie_name,
                                                      f"n° {organiser.regie_number}" if organiser.regie_number
                                                      else "") if part))
        details.append(organiser.contact)
        for detail in details:
            if detail:
                self.multi_cell(0, 4.5, detail, new_x="LMARGIN", new_y="NEXT")
        self.set_left_margin(10)
        self.set_x(10)
        self.ln(4)

    def para(self, text: str, size: float = 10, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")

    def row(self, cells: list[tuple[str, float]], bold: bool = False, size: float = 9) -> None:
        """One table row; each (text, width in mm); the row as high as its tallest cell."""
        self.set_font(FONT, "B" if bold else "", size)
        y = self.get_y()
        x = self.l_margin
        heights = []
        for text, width in cells:
            lines = self.multi_cell(width, 5, text, dry_run=True, output="LINES")
            heights.append(5 * max(len(lines), 1))
        height = max(heights)
        if y + height > self.page_break_trigger:
            self.add_page()
            y = self.get_y()
        for text, width in cells:
            self.set_xy(x, y)
            self.multi_cell(width, 5, text, border="B")
            x += width
        self.set_xy(self.l_margin, y + height)

    def bytes(self) -> bytes:
        return bytes(self.output())


def _method_label(invoice: Invoice) -> str:
    if invoice.payment_provider == "desk":
        return PAYMENT_METHOD_LABELS.get(invoice.payment_method, invoice.payment_method) + " (Pôle Jeunesse)"
    if invoice.payment_provider == "payfip":
        return "Carte bancaire (PayFiP)"
    return PAYMENT_METHOD_LABELS.get(invoice.payment_method, invoice.payment_method)


def invoice_pdf(invoice: Invoice) -> bytes:
    pdf = _Document(f"Facture {invoice.number}")
    pdf.para(f"Date : {date_fr(invoice.issued_at)} — panier n° {invoice.basket_id}")
    pdf.para(f"Facturé à : {invoice.payer_name}", bold=True)
    if invoice.payer_address:
        pdf.para(invoice.payer_address)
    pdf.ln(3)
    widths = [34, 36, 38, 36, 26, 20]
    pdf.row(list(zip(["Enfant", "Semaine", "Accueil", "Tarif (QF)", "Transport", "Montant"], widths)), bold=True)
    for line in invoice.lines:
        qf = f"QF {line.quotient}" if line.quotient is not None else "QF non communiqué"
        amount = euros(line.price_cents)
        if line.bus_price_cents:
            amount += f" + bus {euros(line.bus_price_cents)}"
        pdf.row(list(zip([
            line.child_name,
            f"{line.week_label}\ndu {date_fr(line.week_starts_on)} au {date_fr(line.week_ends_on)}",
            line.establishment_name,
            f"{line.bracket_label}\n{qf}",
            line.transport,
            amount,
        ], widths)))
    pdf.ln(3)
    pdf.para(f"Total : {euros(invoice.total_cents)}", size=11, bold=True)
    pdf.para("Règlement :", bold=True)
    if invoice.card_cents:
        pdf.para(f"{_method_label(invoice)} : {euros(invoice.card_cents)}")
    if invoice.credit_cents:
        from app.services.payments.invoices import spent_credit_notes

        spent = spent_credit_notes(invoice)
        if spent:
            for number, cents in spent:
                pdf.para(f"Avoir n° {number} : {euros(cents)}" if cents else f"Avoir n° {number}")
        else:
            pdf.para(f"Avoir du foyer : {euros(invoice.credit_cents)}")
    pdf.para(f"Acquittée le {datetime_fr(invoice.issued_at)}.")
    return pdf.bytes()


def credit_note_pdf(note: CreditNote) -> bytes:
    from app.services.payments.invoices import invoice_of_reservation, invoices_of_payment, settling_refund

    pdf = _Document(f"Avoir {note.number}")
    pdf.para(f"Date : {date_fr(note.created_at)}")
    household = note.household
    pdf.para(f"Au bénéfice de : {household.name}", bold=True)
    invoice = invoice_of_reservation(note.reservation_id)
    refund = settling_refund(note)
    if invoice is None and refund is not None:  # a refund of part of a payment, no week named
        invoice = next(iter(invoices_of_payment(refund.payment_id)), None)
    if invoice is not None:
        pdf.para(f"Se rapporte à la facture {invoice.number} du {date_fr(invoice.issued_at)}.")
        line = next((ln for ln in invoice.lines if ln.reservation_id == note.reservation_id), None)
        if line is not None:
            pdf.para(f"{line.child_name} — {line.week_label}, {line.establishment_name}")
    pdf.para(f"Motif : {note.reason}")
    pdf.ln(2)
    pdf.para(f"Montant de l'avoir : {euros(note.amount_cents)}", size=11, bold=True)
    if refund is not None and refund.payment.provider == "payfip":
        pdf.para(f"Cet avoir est remboursé par virement de la régie (remboursement demandé le "
                 f"{date_fr(refund.created_at)}).")
    elif refund is not None:
        pdf.para("Cet avoir est remboursé sur la carte bancaire qui a payé la facture, le "
                 f"{date_fr(refund.created_at)}.")
    else:
        pdf.para("Cet avoir est porté au crédit du compte du foyer : il s'impute sur les prochaines "
                 "inscriptions ou est remboursé sur demande.")
    return pdf.bytes()


def attestation_pdf(attestation: Attestation) -> bytes:
    organiser = get_organiser()
    pdf = _Document(f"Attestation de frais de garde {attestation.year}")
    pdf.para("Frais de garde des enfants de moins de 6 ans (article 200 quater B du code général des impôts)",
             bold=True)
    pdf.para(f"{organiser.name} atteste que le foyer {attestation.household_name} a versé en "
             f"{attestation.year}, pour l'accueil de loisirs sans hébergement des enfants ci-dessous, "
             "les sommes suivantes, repas exclus, déduction faite des remboursements et avoirs :")
    pdf.ln(2)
    if not attestation.children:
        pdf.para(f"Aucune somme éligible versée en {attestation.year}.")
    for child in attestation.children:
        pdf.para(f"{child.child_name}, né(e) le {date_fr(child.birth_date)} : {euros(child.total_cents)}", bold=True)
        for line in child.lines:
            pdf.row(list(zip([line.week_label, line.establishment_name, f"Facture {line.invoice_number}",
                              euros(line.eligible_cents)], [50, 60, 45, 35])))
        pdf.ln(2)
    pdf.para(f"Total éligible : {euros(attestation.total_cents)}", size=11, bold=True)
    pdf.para("Les sommes versées par l'autre foyer d'un enfant n'y figurent pas : chaque foyer reçoit "
             "l'attestation de ce qu'il a payé.", size=8)
    return pdf.bytes()


def invoice_attachment(invoice_id: int) -> tuple[str, str, bytes]:
    """The confirmation mail's attachment (named in app/services/mail.py ATTACHMENT_BUILDERS)."""
    invoice = db.session.get(Invoice, invoice_id)
    return f"facture-{invoice.number}.pdf", PDF_MIME, invoice_pdf(invoice)
