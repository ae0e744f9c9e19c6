"""Proof documents: type from content, 5 MB cap, no empty file, no path in the name, storage outside
the web root under a random key, downloads for the owning household and staff only."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.dossier_helpers import ELF, JPEG, MZ, PDF, PNG

UPLOAD = "/famille/dossier/pieces/envoyer"


@pytest.fixture(autouse=True)
def _empty_upload_dir(app):
    """The upload folder lives as long as the session's app: start each test with it empty."""
    for path in sorted(Path(app.config["UPLOAD_DIR"]).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


def _stored_files(app) -> list[Path]:
    return [p for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file()]


def _document_count(app) -> int:
    from app.models import Document, db

    with app.app_context():
        count = db.session.query(Document).count()
    return count


def _post(client, data: bytes, name: str, kind="insurance", child_id=None):
    form = {"kind": kind, "file": (io.BytesIO(data), name)}
    if child_id:
        form["child_id"] = str(child_id)
    return client.post(UPLOAD, data=form, content_type="multipart/form-data", follow_redirects=True)


@pytest.fixture
def parent(app, factory, login):
    family = factory.household(status="draft")
    return family, login(app.test_client(), family.email)


@pytest.mark.parametrize("data, name, message", [
    (b"%PDF-" + b"0" * (6 * 1024 * 1024), "gros-scan.pdf", "5 Mo au maximum"),
    (PDF + b"0" * (5 * 1024 * 1024), "juste-trop.pdf", "5 Mo au maximum"),
    (ELF, "attestation.pdf", "ni un PDF, ni une image JPEG ou PNG"),
    (MZ, "assurance.jpg", "ni un PDF, ni une image JPEG ou PNG"),
    (b"<html><script>alert(1)</script></html>", "page.png", "ni un PDF, ni une image JPEG ou PNG"),
    (b"", "vide.pdf", "Le fichier est vide"),
    (PDF, "../../etc/passwd.pdf", "Le nom du fichier n'est pas valide"),
    (PDF, "..\\..\\windows\\system32\\x.pdf", "Le nom du fichier n'est pas valide"),
    (PDF, "", "Choisissez un fichier"),
])
def test_bad_uploads_are_refused_in_french_and_nothing_is_stored(app, parent, data, name, message):
    family, client = parent
    response = _post(client, data, name)
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400)
    assert message in page.replace("&#39;", "'")
    assert "Rien n'a été enregistré" in page.replace("&#39;", "'") or "Choisissez un fichier" in message
    assert _document_count(app) == 0
    assert _stored_files(app) == []


def test_bad_upload_keeps_the_chosen_kind(app, parent):
    family, client = parent
    page = _post(client, ELF, "x.pdf", kind="qf_attestation").get_data(as_text=True)
    assert '<option value="qf_attestation" selected>' in page


@pytest.mark.parametrize("data, name, content_type, stored_name", [
    (PDF, "attestation CAF.pdf", "application/pdf", "attestation CAF.pdf"),
    (JPEG, "photo.jpeg", "image/jpeg", "photo.jpeg"),
    (PNG, "scan", "image/png", "scan.png"),
    (PDF, "vraiment-un-pdf.png", "application/pdf", "vraiment-un-pdf.pdf"),
    (PNG, "\x01bizarre\u202e.png", "image/png", "bizarre.png"),
])
def test_good_uploads_are_stored_under_a_random_key(app, parent, data, name, content_type, stored_name):
    from app.models import Document, db

    family, client = parent
    page = _post(client, data, name).get_data(as_text=True)
    assert "Pièce envoyée" in page
    with app.app_context():
        [document] = db.session.query(Document).all()
        assert document.content_type == content_type and document.original_name == stored_name
        assert document.household_id == family.id and document.size_bytes == len(data)
        key = document.storage_key
    [stored] = _stored_files(app)
    assert stored.name == key and len(key) == 32 and name not in str(stored)
    assert stored.read_bytes() == data
    assert Path(app.config["UPLOAD_DIR"]).resolve() in stored.resolve().parents
    static = Path(app.static_folder).resolve()
    assert static not in stored.resolve().parents


def test_the_parent_downloads_their_document(app, parent):
    family, client = parent
    _post(client, PNG, "scan.png")
    from app.models import Document, db

    with app.app_context():
        document_id = db.session.query(Document.id).scalar()
    response = client.get(f"/famille/dossier/pieces/{document_id}")
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response.headers["Content-Disposition"]


def test_vaccination_pages_need_a_child_of_the_household(app, factory, parent):
    family, client = parent
    other = factory.household()
    page = _post(client, PDF, "vaccins.pdf", kind="vaccinations").get_data(as_text=True)
    assert "Choisissez l'enfant" in page.replace("&#39;", "'")
    response = _post(client, PDF, "vaccins.pdf", kind="vaccinations", child_id=other.child_ids[0])
    assert response.status_code == 404
    assert _document_count(app) == 0 and _stored_files(app) == []
    assert "Pièce envoyée" in _post(client, PDF, "vaccins.pdf", kind="vaccinations",
                                     child_id=family.child_ids[0]).get_data(as_text=True)


def test_unknown_kind_is_refused(app, parent):
    family, client = parent
    page = _post(client, PDF, "x.pdf", kind="passport").get_data(as_text=True)
    assert "Choisissez le type de pièce" in page
    assert _document_count(app) == 0


def test_a_database_failure_leaves_no_file_behind(app, factory, monkeypatch):
    from app.models import Household, db
    from app.services import audit
    from app.services.household import documents

    family = factory.household(status="draft")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(audit, "record", broken)
    with app.app_context():
        with pytest.raises(RuntimeError):
            documents.add_document(db.session.get(Household, family.id), "insurance", "a.pdf", PDF)
    assert _document_count(app) == 0 and _stored_files(app) == []


def test_parent_deletes_a_pending_document_but_not_an_examined_one(app, parent):
    from app.models import Document, db

    family, client = parent
    _post(client, PDF, "mauvais.pdf")
    _post(client, PDF, "bon.pdf")
    with app.app_context():
        first, second = [d.id for d in db.session.query(Document).order_by(Document.id)]
        db.session.get(Document, second).status = "accepted"
        db.session.commit()
    page = client.post(f"/famille/dossier/pieces/{first}/supprimer", follow_redirects=True).get_data(as_text=True)
    assert "Pièce supprimée" in page
    page = client.post(f"/famille/dossier/pieces/{second}/supprimer", follow_redirects=True).get_data(as_text=True)
    assert "déjà été examinée" in page.replace("&#39;", "'")
    assert _document_count(app) == 1 and len(_stored_files(app)) == 1


def test_staff_see_documents_inline_and_parents_cannot_use_the_staff_route(app, factory, login, parent):
    family, client = parent
    _post(client, PDF, "attestation.pdf")
    from app.models import Document, db

    with app.app_context():
        document_id = db.session.query(Document.id).scalar()
    staff = login(app.test_client(), factory.staff().email)
    response = staff.get(f"/revue-dossiers/document/{document_id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert client.get(f"/revue-dossiers/document/{document_id}").status_code == 403
    assert app.test_client().get(f"/revue-dossiers/document/{document_id}").status_code in (302, 401)
    assert staff.get("/revue-dossiers/document/987654").status_code == 404


def test_a_missing_file_on_disk_is_a_french_404_not_a_500(app, parent):
    family, client = parent
    _post(client, PNG, "scan.png")
    [stored] = _stored_files(app)
    os.remove(stored)
    from app.models import Document, db

    with app.app_context():
        document_id = db.session.query(Document.id).scalar()
    response = client.get(f"/famille/dossier/pieces/{document_id}")
    assert response.status_code == 404
    assert "introuvable" in response.get_data(as_text=True)


def test_upload_of_a_validated_file_sends_it_back_to_review(app, factory, login):
    family = factory.household(status="validated")
    client = login(app.test_client(), family.email)
    assert "Pièce envoyée" in _post(client, PDF, "assurance.pdf").get_data(as_text=True)
    from app.models import Household, db

    with app.app_context():
        assert db.session.get(Household, family.id).status == "submitted"
