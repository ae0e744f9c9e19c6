"""Reading what a parent or staff typed: one `Input` per form collects a French message per field,
so the form shows every mistake at once instead of one per submission.

Kept by hand rather than WTForms: the same checks serve the HTML forms, the JSON API and the staff
screens, and they run inside the services, which never see a Flask request.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from flask_babel import gettext as _

from app.services.errors import ValidationFailed

PHONE_RE = re.compile(r"^\+?[0-9][0-9 .\-]{8,18}[0-9]$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Input:
    """Reads raw form/API values and collects French messages per field (all at once, not one by one)."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "on" if value else ""
        return str(value).strip()

    def text(self, name: str, max_len: int = 200, required: bool = False, message: str | None = None) -> str | None:
        value = re.sub(r"[ \t]+", " ", self.raw(name))
        if not value:
            if required:
                self.errors[name] = message or _("Ce champ est obligatoire.")
            return None
        if len(value) > max_len:
            self.errors[name] = _("%(max)d caractères au maximum.", max=max_len)
        return value

    def long_text(self, name: str, max_len: int = 2000) -> str | None:
        value = self.raw(name).replace("\r\n", "\n")
        if len(value) > max_len:
            self.errors[name] = _("%(max)d caractères au maximum.", max=max_len)
        return value or None

    def name(self, name: str, required: bool = True) -> str | None:
        value = self.text(name, 100, required)
        if value and not re.fullmatch(r"[^\d<>{}\[\]@#$%^*=+|~`\"]+", value):
            self.errors[name] = _("Lettres, espaces, traits d'union et apostrophes uniquement.")
        return value

    def phone(self, name: str, required: bool = False) -> str | None:
        value = self.text(name, 30, required, _("Indiquez un numéro de téléphone."))
        if value:
            digits = re.sub(r"[^0-9]", "", value)
            if not PHONE_RE.match(value) or not 10 <= len(digits) <= 15:
                self.errors[name] = _("Numéro de téléphone non valide (exemple : 06 12 34 56 78).")
        return value

    def email(self, name: str, required: bool = False) -> str | None:
        value = self.text(name, 254, required, _("Indiquez une adresse e-mail."))
        if value:
            value = value.lower()
            if not EMAIL_RE.match(value):
                self.errors[name] = _("Adresse e-mail non valide (exemple : prenom.nom@exemple.fr).")
        return value

    def integer(self, name: str, minimum: int, maximum: int, required: bool = False,
                message: str | None = None) -> int | None:
        value = self.raw(name).replace(" ", "").replace("\u202f", "").replace("€", "")
        if not value:
            if required:
                self.errors[name] = message or _("Ce champ est obligatoire.")
            return None
        if not re.fullmatch(r"[0-9]+", value):  # ASCII: "\d" and int() also take Arabic-Indic digits
            self.errors[name] = _("Indiquez un nombre entier, sans virgule (exemple : 850).")
            return None
        number = int(value)
        if not minimum <= number <= maximum:
            self.errors[name] = _("Indiquez un nombre entre %(min)d et %(max)d.", min=minimum, max=maximum)
            return None
        return number

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, bool):
            return value
        return str(value or "").strip().lower() in {"on", "1", "true", "oui", "yes", "y"}

    def date(self, name: str, required: bool = True) -> date | None:
        value = self.raw(name)
        if not value:
            if required:
                self.errors[name] = _("Indiquez une date.")
            return None
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(value, pattern).date()
            except ValueError:
                continue
        self.errors[name] = _("Date non valide (exemple : 25/03/2018).")
        return None

    def choice(self, name: str, choices: Iterable[str], required: bool = False,
               message: str | None = None) -> str | None:
        value = self.raw(name)
        if not value:
            if required:
                self.errors[name] = message or _("Faites un choix.")
            return None
        if value not in set(choices):
            self.errors[name] = _("Choix non valide.")
            return None
        return value

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(_("Certains champs sont à corriger : voyez les messages sous chaque champ. "
                                     "Rien n'a été enregistré."), code="invalid", errors=dict(self.errors))


def normalise_name(value: str) -> str:
    """A name folded for comparison: accents, case, hyphens and apostrophes do not make two children."""
    folded = unicodedata.normalize("NFKD", value or "")
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.sub(r"[\s\-']+", " ", folded).strip().casefold()
