"""CSV files that open correctly in French spreadsheet software (Excel, LibreOffice in fr-FR).

Excel guesses the encoding from a byte-order mark and the separator from the locale: UTF-8 with a
BOM keeps accents ("Léa", "Église"), a semicolon separates columns (the comma is the decimal
mark), lines end with CRLF. Dates are written dd/mm/yyyy, times HH:MM, amounts in euros with a
decimal comma and no currency sign so that they stay numbers. A cell that starts like a formula
is neutralised (a parent could type "=HYPERLINK(...)" into an allergy field): see `_neutralise`.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time
from typing import Any, Iterable, Sequence

from app.services.localize import PARIS, PAYMENT_METHOD_LABELS
from app.services.operations.reports import BusList, Occupancy, Roster, Takings

BOM = "\ufeff"
SEPARATOR = ";"
LINE_END = "\r\n"


class Amount(int):
    """Cents to be written as euros with a decimal comma."""


def amount_fr(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100},{cents % 100:02d}"


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Amount):
        return amount_fr(value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        local = value.astimezone(PARIS) if value.tzinfo else value
        return local.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    text = str(value)
    return _neutralise(text)


# What may start with + or - and still be left alone: a plain number ("-12,5") or a phone number
# ("+33 6 12 34 56 78"). ASCII digits only: a spreadsheet reads other digits as text anyway.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
_PHONE_NUMBER = re.compile(r"\+?[0-9][0-9 .\-]{6,18}[0-9]")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(text: str) -> str:
    """Formula injection guard, one rule for every cell: a cell that a spreadsheet could read as a
    formula (= + - @, tab or CR first) gets a leading apostrophe, unless it is a plain number or a
    phone number. Anything looser lets "-2+3+cmd|' /C calc'!A0" through (a pick-up name typed by a
    parent ends up in the roster); anything stricter would spoil phone numbers and amounts."""
    if not text or not text.startswith(_FORMULA_STARTS):
        return text
    if _PLAIN_NUMBER.fullmatch(text) or _PHONE_NUMBER.fullmatch(text):
        return text
    return "'" + text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=SEPARATOR, lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([format_value(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def _contacts(child) -> str:
    return " | ".join(
        f"{c.name}{' (' + c.relationship + ')' if c.relationship else ''} {c.phone}".strip()
        for c in child.contacts)


def _pickups(child) -> str:
    return " | ".join(
        f"{p.name}{' (' + p.relationship + ')' if p.relationship else ''} {p.phone}".strip()
        for p in child.pickups)


def roster_csv(rosters: Iterable[Roster]) -> bytes:
    header = ["Établissement", "Période", "Semaine", "Du", "Au", "Nom", "Prénom", "Date de naissance", "Âge",
              "Allergies", "Régime alimentaire", "PAI", "Détails du PAI", "Informations médicales",
              "Transport", "Circuit", "Arrêt", "Heure de montée", "Heure de descente",
              "Contacts d'urgence", "Personnes autorisées à récupérer l'enfant"]
    rows = (
        [r.establishment_name, r.period_name, r.week_label, r.week_starts_on, r.week_ends_on, c.last_name,
         c.first_name, c.birth_date, c.age, c.allergies, c.diet, c.pai, c.pai_details, c.medical_notes,
         "Bus" if c.transport_mode == "bus" else "Sur place", c.circuit_name, c.stop_name, c.pickup_time,
         c.dropoff_time, _contacts(c), _pickups(c)]
        for r in rosters for c in r.children
    )
    return to_csv(header, rows)


def onsite_csv(rosters: Iterable[Roster]) -> bytes:
    header = ["Établissement", "Période", "Semaine", "Du", "Au", "Nom", "Prénom", "Âge", "Allergies", "PAI",
              "Responsable", "Téléphone", "Personnes autorisées à récupérer l'enfant"]
    rows = (
        [r.establishment_name, r.period_name, r.week_label, r.week_starts_on, r.week_ends_on, c.last_name,
         c.first_name, c.age, c.allergies, c.pai, c.guardian_name, c.guardian_phone, _pickups(c)]
        for r in rosters for c in r.children
    )
    return to_csv(header, rows)


def bus_list_csv(lists: Iterable[BusList]) -> bytes:
    header = ["Circuit", "Établissement", "Période", "Semaine", "Du", "Au", "Ordre", "Arrêt", "Heure de montée",
              "Heure de descente", "Nom", "Prénom", "Âge", "PAI", "Allergies", "Responsable", "Téléphone"]
    rows = (
        [b.circuit_name, b.establishment_name, b.period_name, b.week_label, b.week_starts_on, b.week_ends_on,
         s.position, s.name, s.pickup_time, s.dropoff_time, c.last_name, c.first_name, c.age, c.pai,
         c.allergies, c.guardian_name, c.guardian_phone]
        for b in lists for s in b.stops for c in s.children
    )
    return to_csv(header, rows)


def occupancy_csv(occupancy: Occupancy) -> bytes:
    header = ["Établissement", "Période", "Semaine / circuit", "Capacité", "Confirmées", "En attente de paiement",
              "Libres", "Liste d'attente", "Places proposées"]
    rows = [[occupancy.establishment_name, occupancy.period_name, w.label, w.capacity, w.confirmed, w.held, w.free,
             w.waiting, w.offered] for w in occupancy.weeks]
    rows += [[occupancy.establishment_name, occupancy.period_name, f"{c.circuit_name} — {c.week_label}", c.seats,
              c.confirmed, c.held, c.free, "", ""] for c in occupancy.circuits]
    return to_csv(header, rows)


def takings_csv(takings: Iterable[Takings]) -> bytes:
    takings = list(takings)
    methods = [m for m in PAYMENT_METHOD_LABELS if any(t.by_method.get(m) for t in takings)]
    header = ["Établissement", "Période", "Encaissé (€)", "Remboursé (€)", "Net (€)"] + \
             [f"Dont {PAYMENT_METHOD_LABELS[m].lower()} (€)" for m in methods]
    rows = ([t.establishment_name, t.period_name, Amount(t.paid_cents), Amount(t.refunded_cents),
             Amount(t.net_cents)] + [Amount(t.by_method.get(m, 0)) for m in methods] for t in takings)
    return to_csv(header, rows)
