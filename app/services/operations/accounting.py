"""The accountant's export (issue 16): invoices, credit notes, payments and refunds over a date range,
as a CSV for French spreadsheets (app/services/operations/csv_export.py conventions), with totals
per payment method and per month, and a control line that ties them to the takings screen.

Which date puts a row in the range (Paris days, both ends included):
* an invoice: its issue date; a credit note: its issue date;
* a payment: when the money came in (paid_at), for the statuses the takings count (paid, partially
  refunded, refunded: a refunded payment was paid first);
* a refund: its date, once the provider confirmed it (status succeeded, as the takings count it).

The reconciliation, what the accountant checks and tests/test_accounting_export.py proves:
    Σ invoices − Σ paid by credit notes on those invoices + Σ money taken without an invoice
    − Σ refunds  =  net takings (Σ payments − Σ refunds, the takings screen's total)
An invoice's card (or desk) part is its payment's amount, so the left side is the money side of the
numbered documents; money taken without an invoice is a payment that arrived after its places were
gone and was refunded in full (it never confirmed a basket). Credit notes are listed and totalled
apart: a credit note is money kept for the family, not money in or out, until it is spent on an
invoice (the invoice's « payé par avoir » part) or refunded (a refund row).

The issue's own identity, Σ invoices − Σ credit notes = net takings, is printed too, with its gap:
it holds once every credit note is spent or refunded to the card (a card refund of a sale has its
own credit note, app/services/payments/invoices.py `document_refund`); what separates the two is the
credit still on the families' accounts, paid back by the régie or withdrawn (`credit_gap_cents`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from app.models import CreditNote, Household, Invoice, Payment, Refund, db
from app.services.localize import PARIS, PAYMENT_METHOD_LABELS
from app.services.operations.csv_export import Amount, to_csv
from app.services.operations.takings import MONEY_IN_STATUSES
from app.services.payments.invoices import invoice_numbers_of_reservations

KIND_LABELS = {"invoice": "Facture", "credit_note": "Avoir", "payment": "Encaissement", "refund": "Remboursement"}


@dataclass
class Entry:
    kind: str  # invoice, credit_note, payment, refund
    at: datetime
    number: str  # FA-…, AV-…, or the payment / refund id
    household: str
    basket_id: int | None
    method: str
    amount_cents: int  # as the document shows it (positive)
    credit_cents: int = 0  # an invoice: the part paid by credit notes
    reference: str = ""  # a credit note: its invoice; a refund: its payment; a payment: its invoice
    label: str = ""


@dataclass
class Ledger:
    start: date
    end: date
    entries: list[Entry] = field(default_factory=list)
    invoices_cents: int = 0
    invoices_credit_cents: int = 0
    credit_notes_cents: int = 0
    paid_by_method: dict[str, int] = field(default_factory=dict)
    refunded_by_method: dict[str, int] = field(default_factory=dict)
    uninvoiced_cents: int = 0  # money taken that confirmed no basket (refunded in full)
    by_month: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def paid_cents(self) -> int:
        return sum(self.paid_by_method.values())

    @property
    def refunded_cents(self) -> int:
        return sum(self.refunded_by_method.values())

    @property
    def net_cents(self) -> int:
        return self.paid_cents - self.refunded_cents

    @property
    def credit_gap_cents(self) -> int:
        """(Σ invoices − Σ credit notes) − net takings: credit not (yet) spent on an invoice or refunded."""
        return self.invoices_cents - self.credit_notes_cents - self.net_cents

    @property
    def documents_net_cents(self) -> int:
        """The money side of the numbered documents (see the module's docstring)."""
        return self.invoices_cents - self.invoices_credit_cents + self.uninvoiced_cents - self.refunded_cents


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (datetime.combine(start, time(0), tzinfo=PARIS),
            datetime.combine(end + timedelta(days=1), time(0), tzinfo=PARIS))


def _month(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%Y-%m")


def ledger(start: date, end: date) -> Ledger:
    """Everything numbered or cashed between `start` and `end` (Paris days, inclusive). Seven queries."""
    low, high = _bounds(start, end)
    result = Ledger(start, end)
    months: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    invoiced_payments = set(db.session.execute(select(Invoice.payment_id)).scalars())
    for invoice in db.session.execute(select(Invoice).where(Invoice.issued_at >= low, Invoice.issued_at < high)
                                      .order_by(Invoice.issued_at, Invoice.id)).scalars():
        result.entries.append(Entry("invoice", invoice.issued_at, invoice.number, invoice.payer_name,
                                    invoice.basket_id, invoice.payment_method, invoice.total_cents,
                                    invoice.credit_cents, f"Paiement n° {invoice.payment_id}",
                                    f"Panier n° {invoice.basket_id}"))
        result.invoices_cents += invoice.total_cents
        result.invoices_credit_cents += invoice.credit_cents
        months[_month(invoice.issued_at)]["invoices"] += invoice.total_cents

    notes = db.session.execute(select(CreditNote, Household.name)
                               .join(Household, Household.id == CreditNote.household_id)
                               .where(CreditNote.created_at >= low, CreditNote.created_at < high)
                               .order_by(CreditNote.created_at, CreditNote.id)).all()
    numbers = invoice_numbers_of_reservations({note.reservation_id for note, _ in notes if note.reservation_id})
    for note, household in notes:
        result.entries.append(Entry("credit_note", note.created_at, note.number, household, None, "",
                                    note.amount_cents, 0, numbers.get(note.reservation_id, ""), note.reason))
        result.credit_notes_cents += note.amount_cents
        months[_month(note.created_at)]["credit_notes"] += note.amount_cents

    paid_at = func.coalesce(Payment.paid_at, Payment.created_at)
    payments = db.session.execute(
        select(Payment, Household.name).join(Household, Household.id == Payment.household_id)
        .where(Payment.status.in_(MONEY_IN_STATUSES), paid_at >= low, paid_at < high)
        .order_by(paid_at, Payment.id)).all()
    invoice_numbers = dict(db.session.execute(select(Invoice.payment_id, Invoice.number)).all())
    for payment, household in payments:
        at = payment.paid_at or payment.created_at
        result.entries.append(Entry("payment", at, f"P{payment.id}", household, payment.basket_id, payment.method,
                                    payment.amount_cents, 0, invoice_numbers.get(payment.id, ""),
                                    PAYMENT_METHOD_LABELS.get(payment.method, payment.method)))
        result.paid_by_method[payment.method] = result.paid_by_method.get(payment.method, 0) + payment.amount_cents
        if payment.id not in invoiced_payments:
            result.uninvoiced_cents += payment.amount_cents
        months[_month(at)]["paid"] += payment.amount_cents

    refunds = db.session.execute(
        select(Refund, Payment.method, Payment.basket_id, Household.name).join(Payment, Payment.id == Refund.payment_id)
        .join(Household, Household.id == Payment.household_id)
        .where(Refund.status == "succeeded", Refund.created_at >= low, Refund.created_at < high)
        .order_by(Refund.created_at, Refund.id)).all()
    for refund, method, basket_id, household in refunds:
        result.entries.append(Entry("refund", refund.created_at, f"R{refund.id}", household, basket_id, method,
                                    refund.amount_cents, 0, f"P{refund.payment_id}", refund.reason))
        result.refunded_by_method[method] = result.refunded_by_method.get(method, 0) + refund.amount_cents
        months[_month(refund.created_at)]["refunded"] += refund.amount_cents

    result.entries.sort(key=lambda entry: entry.at)
    result.by_month = {month: dict(values) for month, values in sorted(months.items())}
    return result


HEADER = ["Type", "Date", "Numéro", "Foyer", "Panier", "Mode de paiement", "Montant (€)", "Dont payé par avoir (€)",
          "Référence", "Libellé"]


def ledger_csv(data: Ledger) -> bytes:
    """The export: one line per document or movement, then the totals and the control line."""
    rows: list[list] = []
    for entry in data.entries:
        signed = -entry.amount_cents if entry.kind in ("credit_note", "refund") else entry.amount_cents
        rows.append([KIND_LABELS[entry.kind], entry.at, entry.number, entry.household, entry.basket_id,
                     PAYMENT_METHOD_LABELS.get(entry.method, entry.method), Amount(signed),
                     Amount(entry.credit_cents) if entry.kind == "invoice" else None, entry.reference, entry.label])
    rows.append([])
    rows.append(["Totaux", f"du {data.start:%d/%m/%Y} au {data.end:%d/%m/%Y}"])
    rows.append(["Total", "", "Factures", "", "", "", Amount(data.invoices_cents), Amount(data.invoices_credit_cents)])
    rows.append(["Total", "", "Avoirs émis", "", "", "", Amount(-data.credit_notes_cents)])
    for method, cents in sorted(data.paid_by_method.items()):
        rows.append(["Total", "", "Encaissé", "", "", PAYMENT_METHOD_LABELS.get(method, method), Amount(cents)])
    for method, cents in sorted(data.refunded_by_method.items()):
        rows.append(["Total", "", "Remboursé", "", "", PAYMENT_METHOD_LABELS.get(method, method), Amount(-cents)])
    rows.append(["Total", "", "Net encaissé", "", "", "", Amount(data.net_cents)])
    for month, values in data.by_month.items():
        net = values.get("paid", 0) - values.get("refunded", 0)
        rows.append(["Mois", month, "Factures", "", "", "", Amount(values.get("invoices", 0))])
        rows.append(["Mois", month, "Avoirs émis", "", "", "", Amount(-values.get("credit_notes", 0))])
        rows.append(["Mois", month, "Net encaissé", "", "", "", Amount(net)])
    rows.append(["Contrôle", "", "Factures − avoirs émis", "", "", "",
                 Amount(data.invoices_cents - data.credit_notes_cents), None,
                 "égal au net encaissé" if data.credit_gap_cents == 0
                 else "écart : avoirs pas encore utilisés, remboursés par la régie ou retirés"])
    rows.append(["Contrôle", "", "Factures − payé par avoir + encaissé sans facture − remboursé", "", "", "",
                 Amount(data.documents_net_cents), None, "égal au net encaissé" if data.documents_net_cents ==
                 data.net_cents else "écart à vérifier"])
    return to_csv(HEADER, rows)
