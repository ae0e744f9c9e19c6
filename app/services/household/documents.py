"""Proof documents: upload checks, storage outside the web root, and who may read them.

A document belongs to one household: the other household of a shared child never sees it. The
type is read from the first bytes (never from the name or the browser's content type), the file is
stored under a random key in `UPLOAD_DIR`, and the person's file name is only kept, sanitised, to
be shown back. A refused upload leaves nothing behind: no row, no file.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from app.models import Document, DocumentKind, Household, db, utcnow
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.household import validity
from app.services.household.checklist import DOCUMENT_LABELS
from app.services.household.links import child_link
from app.services.household.resubmission import after_parent_change

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_NAME_LENGTH = 120

# (magic prefix, content type, extension)
SIGNATURES = [
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
]
# The checklist's names: « Compléter » on an item and the type list must say the same thing.
KIND_LABELS = DOCUMENT_LABELS


@dataclass(frozen=True)
class StoredFile:
    path: Path
    download_name: str
    content_type: str
    size_bytes: int


def too_large_message() -> str:
    return _("Le fichier est trop lourd : 5 Mo au maximum. Rien n'a été enregistré. "
             "Réduisez la taille de la photo ou du scan (par exemple en PDF) puis recommencez.")


def detect_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the content's first bytes, or None if not PDF/JPEG/PNG."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def check_file_name(name: str | None) -> str:
    """The name to show back: refuse paths outright, strip control characters, keep it short."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Choisissez un fichier à envoyer."), code="no_file", field="file")
    # Browsers send a bare name; separators or a leading ".." mean a forged or mangled path
    # (werkzeug drops the backslashes of "..\\..\\x.pdf", leaving "....x.pdf").
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".."):
        raise ValidationFailed(
            _("Le nom du fichier n'est pas valide (il contient « / » ou « \\ »). Renommez le fichier, "
              "par exemple « attestation.pdf », puis recommencez. Rien n'a été enregistré."),
            code="bad_file_name", field="file")
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).lstrip(".").strip() or "document"
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME_LENGTH - len(ext) - 1] + dot + ext) if dot and len(ext) <= 5 else name[:MAX_NAME_LENGTH]
    return name


def check_content(data: bytes) -> tuple[str, str]:
    if not data:
        raise ValidationFailed(_("Le fichier est vide. Rien n'a été enregistré : choisissez un autre fichier."),
                               code="empty_file", field="file")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(too_large_message(), code="too_large", field="file")
    detected = detect_type(data)
    if detected is None:
        raise ValidationFailed(
            _("Ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié, pas seulement "
              "le nom). Rien n'a été enregistré : envoyez un scan en PDF ou une photo JPEG ou PNG."),
            code="bad_type", field="file")
    return detected


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def _path_for(storage_key: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", storage_key or ""):
        raise NotFound(_("Document introuvable."))
    return upload_dir() / storage_key[:2] / storage_key


def _write(storage_key: str, data: bytes) -> Path:
    path = _path_for(storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def remove_stored_file(storage_key: str) -> None:
    """Delete a stored file after its row is gone (a missing file is not an error)."""
    _remove(storage_key)


def _remove(storage_key: str) -> None:
    try:
        _path_for(storage_key).unlink(missing_ok=True)
    except (OSError, NotFound):
        log.exception("could not remove stored document %s", storage_key)


def add_document(household: Household, kind: str, file_name: str | None, data: bytes, *,
                 child_id: int | None = None, actor=None) -> Document:
    """Check and store one upload, commit, then (for a validated file) send it back to review.

    Everything is checked before anything is written; if the database refuses the row, the file
    just written is removed again."""
    if kind not in validity.upload_kinds():  # the built-in kinds and those staff added
        raise ValidationFailed(_("Choisissez le type de pièce."), code="bad_kind", field="kind")
    if kind == DocumentKind.VACCINATIONS or (kind not in DocumentKind.ALL and validity.is_per_child(kind)):
        if not child_id:
            raise ValidationFailed(_("Choisissez l'enfant concerné par les pages de vaccination.")
                                   if kind == DocumentKind.VACCINATIONS else
                                   _("Choisissez l'enfant concerné par cette pièce."),
                                   code="no_child", field="child_id")
        child_link(household.id, child_id)  # another household's child: NotFound
    else:
        child_id = None
    return _store(household, kind, file_name, data, child_id=child_id, actor=actor, review=True)


def add_justification(household: Household, file_name: str | None, data: bytes, *, actor=None) -> Document:
    """A medical certificate for a late cancellation (issue 14): checked and stored like any proof,
    but it is about one week, which staff decide in the cancellation queue: the file itself is not
    sent back to review."""
    return _store(household, DocumentKind.MEDICAL_CERTIFICATE, file_name, data, child_id=None, actor=actor,
                  review=False)


def _store(household: Household, kind: str, file_name: str | None, data: bytes, *, child_id: int | None,
           actor, review: bool) -> Document:
    name = check_file_name(file_name)
    content_type, extension = check_content(data)
    if not name.lower().endswith("." + extension) and not (extension == "jpg" and name.lower().endswith(".jpeg")):
        name = f"{name.rsplit('.', 1)[0] if '.' in name else name}.{extension}"

    storage_key = secrets.token_hex(16)
    _write(storage_key, data)
    try:
        document = Document(child_id=child_id, kind=kind, original_name=name, storage_key=storage_key,
                            content_type=content_type, size_bytes=len(data), status="pending",
                            uploaded_at=utcnow())
        household.documents.append(document)
        db.session.flush()
        audit.record("document.uploaded", "document", document.id, actor=actor, household_id=household.id,
                     after={"kind": kind, "child_id": child_id, "name": name, "size_bytes": len(data),
                            "content_type": content_type})
        if review:
            after_parent_change(household, actor, "documents")
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _remove(storage_key)
        raise
    return document


def household_document(household_id: int, document_id: int) -> Document:
    """A document of this household, or NotFound whatever else exists under that id."""
    document = db.session.get(Document, document_id)
    if document is None or document.household_id != household_id:
        raise NotFound(_("Document introuvable."), code="not_found")
    return document


def any_document(document_id: int) -> Document:
    document = db.session.get(Document, document_id)
    if document is None:
        raise NotFound(_("Document introuvable."), code="not_found")
    return document


def stored_file(document: Document) -> StoredFile:
    path = _path_for(document.storage_key)
    if not path.is_file():
        log.error("document %s: file %s missing on disk", document.id, document.storage_key)
        raise NotFound(_("Le fichier de ce document est introuvable. Merci de l'envoyer à nouveau."),
                       code="file_missing")
    return StoredFile(path=path, download_name=document.original_name, content_type=document.content_type,
                      size_bytes=document.size_bytes)


def delete_document(household: Household, document_id: int, actor=None) -> None:
    """A parent may take back an upload staff have not looked at yet (a wrong file)."""
    document = household_document(household.id, document_id)
    if document.kind in DocumentKind.JUSTIFICATIONS:
        raise ValidationFailed(_("Ce certificat accompagne une demande d'annulation : il ne peut pas être "
                                 "supprimé."), code="locked")
    if document.status != "pending":
        raise ValidationFailed(_("Cette pièce a déjà été examinée par le Pôle Jeunesse : elle ne peut plus "
                                 "être supprimée. Envoyez plutôt une nouvelle version."), code="locked")
    key = document.storage_key
    audit.record("document.deleted", "document", document.id, actor=actor, household_id=household.id,
                 before={"kind": document.kind, "child_id": document.child_id, "name": document.original_name})
    household.documents.remove(document)
    db.session.delete(document)
    after_parent_change(household, actor, "documents")
    db.session.commit()
    _remove(key)
