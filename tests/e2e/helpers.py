"""Small helpers shared by the browser journeys: logins, mails, catalogue touch-ups, proof files."""
from __future__ import annotations

import re
import struct
import zlib

from playwright.sync_api import expect

from tests.support import factories

CONFIRM_LINK = re.compile(r"https?://\S+/compte/confirmer/[A-Za-z0-9_\-]+")


def login(page, base_url: str, email: str, password: str = factories.PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")


def mails_to(app, address: str, kind: str | None = None) -> list:
    """The mail log rows sent to an address (what the parent would find in their inbox)."""
    from sqlalchemy import select

    from app.models import MailLog, db

    with app.app_context():
        query = select(MailLog).where(MailLog.to_address == address).order_by(MailLog.id)
        if kind:
            query = query.where(MailLog.kind == kind)
        rows = [(row.kind, row.subject, row.body_text) for row in db.session.execute(query).scalars()]
    return rows


def confirmation_link(app, address: str, timeout: float = 15.0) -> str:
    """The link as the parent receives it. The mail log masks it (issue 11): the embedded worker
    delivers the mail to the in-process console mailbox, which is read here once it arrives."""
    import time

    from app.services.mail import console_outbox

    mails = mails_to(app, address, "account_confirmation")
    assert mails, f"no confirmation mail was logged for {address}"
    deadline = time.monotonic() + timeout
    while True:
        delivered = [m.text for m in list(console_outbox(app))
                     if m.to == address and m.kind == "account_confirmation"]
        if delivered or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # waiting for the embedded worker's delivery, not measuring anything
    assert delivered, f"the confirmation mail to {address} was not delivered within {timeout} s"
    found = CONFIRM_LINK.search(delivered[-1])
    assert found, f"the confirmation mail holds no link: {delivered[-1]!r}"
    return found.group(0)


def name_catalogue(app, catalogue, establishment: str, circuit: str, stops: tuple[str, ...],
                   period: str = "Vacances de Noël") -> None:
    """Give the factory's catalogue the names a real commune would use (readable screenshots)."""
    from app.models import Circuit, Establishment, Period, Stop, db

    with app.app_context():
        db.session.get(Establishment, catalogue.establishment_id).name = establishment
        db.session.get(Period, catalogue.period_id).name = period
        db.session.get(Circuit, catalogue.circuit_id).name = circuit
        for stop_id, name in zip(catalogue.stop_ids, stops):
            db.session.get(Stop, stop_id).name = name
        db.session.commit()


def reservations_of(app, household_id: int) -> list[tuple]:
    """(child first name, week id, status, transport mode, stop name) of a household's lines."""
    from sqlalchemy import select

    from app.models import Reservation, db

    with app.app_context():
        rows = db.session.execute(select(Reservation).where(Reservation.household_id == household_id)
                                  .order_by(Reservation.id)).scalars().all()
        result = [(r.child.first_name, r.week_id, r.status, r.transport_mode, r.stop.name if r.stop else None)
                  for r in rows]
    return result


def household_of(app, email: str):
    from sqlalchemy import select

    from app.models import Household, db

    with app.app_context():
        household = db.session.execute(select(Household).where(Household.email == email)).scalar_one()
        result = (household.id, household.status, household.quotient)
    return result


# --- small but valid proof files (the portal reads the type from the content) --------------

def png_bytes(width: int = 40, height: int = 24, rgb: tuple[int, int, int] = (11, 92, 173)) -> bytes:
    """A real PNG image (IHDR, one zlib-compressed IDAT, IEND, correct CRCs)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def pdf_bytes(text: str = "Attestation") -> bytes:
    """A one-page PDF with a correct cross-reference table, readable by any viewer."""
    stream = f"BT /F1 18 Tf 40 100 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# --- the parent's booking steps, as a parent does them -------------------------------------

def choose_weeks(page, child_name: str, period_name: str, choices: dict[int, str]) -> None:
    """From /famille/inscrire: pick the child, the period, tick the weeks and choose each transport
    ("onsite" or "stop-<id>"), then add them to the basket."""
    page.get_by_role("link", name=child_name, exact=True).click()
    page.get_by_role("link", name=period_name, exact=True).click()
    for week_id, transport in choices.items():
        page.locator(f"#week-{week_id}").check()
        page.locator(f"#transport-{week_id}").select_option(transport)


def add_to_basket(page, count: int) -> None:
    page.get_by_role("button", name="Ajouter à mon panier").click()
    expect(page.locator(".flash-success")).to_contain_text(f"{count} semaine ajoutée à votre panier" if count == 1
                                                     else f"{count} semaines ajoutées à votre panier")


def pay_in_sandbox(page) -> None:
    """From the basket page: validate the basket, pay on the sandbox page, land on the confirmation."""
    page.get_by_role("button", name="Valider mon panier").click()
    expect(page).to_have_url(re.compile(r"/payments/sandbox/"))
    page.get_by_role("button", name=re.compile(r"^Payer ")).click()
    expect(page.locator("#payment-confirmed")).to_contain_text("Vos inscriptions sont confirmées")


def validate_household(app, household_id: int) -> None:
    """Staff's validation, as tests/dossier_helpers fills a file through services that send it back
    for review (any change to a validated file does)."""
    from app.models import Household, db, utcnow

    with app.app_context():
        household = db.session.get(Household, household_id)
        household.status = "validated"
        household.quotient = household.declared_quotient
        household.validated_at = utcnow()
        db.session.commit()
