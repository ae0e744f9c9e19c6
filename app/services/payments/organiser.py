"""The organiser's identity (name, address, SIRET, régie, contact, logo) printed on every invoice,
credit note and tax attestation. One row, entered once by Admin; documents read it when printed."""
from __future__ import annotations

import re

from flask_babel import gettext as _

from app.models import Organiser, db
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.transactions import unit_of_work

FIELDS = ("name", "address", "siret", "regie_name", "regie_number", "contact")
LOGO_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_LOGO_BYTES = 512 * 1024


def get_organiser() -> Organiser:
    """The identity to print; an unsaved default when Admin has not entered it yet (documents still
    print, with the portal's name)."""
    return db.session.get(Organiser, 1) or Organiser(id=1, name="Pôle Jeunesse", address="", siret="",
                                                     regie_name="", regie_number="", contact="")


def _logo_type(data: bytes) -> str:
    for magic, mime in LOGO_TYPES.items():
        if data.startswith(magic):
            return mime
    raise ValidationFailed(_("Le logo doit être une image PNG ou JPEG."), code="logo_type")


def update_organiser(values: dict, *, logo: bytes | None = None, remove_logo: bool = False,
                     actor=None) -> Organiser:
    """Admin saves the identity: checked, audited (before/after, the logo by size only)."""
    cleaned = {field: str(values.get(field) or "").strip() for field in FIELDS}
    if not cleaned["name"]:
        raise ValidationFailed(_("Indiquez le nom de l'organisateur."), code="organiser_name")
    siret = re.sub(r"\s", "", cleaned["siret"])
    if siret and not re.fullmatch(r"[0-9]{14}", siret):
        raise ValidationFailed(_("Le SIRET compte 14 chiffres."), code="organiser_siret")
    cleaned["siret"] = siret
    if logo is not None and len(logo) > MAX_LOGO_BYTES:
        raise ValidationFailed(_("Le logo dépasse 512 Ko."), code="logo_size")
    mime = _logo_type(logo) if logo else None
    with unit_of_work():
        row = db.session.get(Organiser, 1, with_for_update=True)
        if row is None:
            row = Organiser(id=1)
            db.session.add(row)
        before = {field: getattr(row, field) for field in FIELDS} | {"logo_bytes": len(row.logo or b"")}
        for field, value in cleaned.items():
            setattr(row, field, value)
        if logo:
            row.logo, row.logo_mime = logo, mime
        elif remove_logo:
            row.logo, row.logo_mime = None, None
        db.session.flush()
        audit.record("organiser.updated", "organiser", row.id, actor=actor, before=before,
                     after={field: getattr(row, field) for field in FIELDS} | {"logo_bytes": len(row.logo or b"")})
    return row
