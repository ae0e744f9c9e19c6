"""Staff screens of issue 14: the queue of late cancellation requests (certificate inline, accept /
refuse with a reason), the periods' published rules, and a household's credit account (grant,
withdraw, refund with a reason, audited). Staff get them; parents do not."""
from __future__ import annotations

import html

from tests.credit_helpers import after_deadline, assert_money_conserved, book_and_pay, money, status

PDF = b"%PDF-1.4\n% certificat\n"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _late_request(app, fam, line, week_id, reason="Varicelle"):
    from app.models import Household, db
    from app.services.household import documents
    from app.services.payments.cancellations import cancel_by_parent

    late = after_deadline(app, week_id)
    with app.app_context():
        document_id = documents.add_justification(db.session.get(Household, fam.id), "certificat.pdf", PDF).id
        db.session.rollback()
        return cancel_by_parent(fam.id, line, document_id=document_id, reason=reason, now=late)


def test_the_queue_shows_the_certificate_and_staff_accept_or_refuse(app, factory, login):
    from sqlalchemy import select

    from app.models import MailLog, db

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8)])
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    second = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    one = _late_request(app, fam, first, cat.week_ids[0])
    two = _late_request(app, fam, second, cat.week_ids[1], reason="Déménagement")
    assert one.outcome == two.outcome == "pending_review"

    staff = login(app.test_client(), factory.staff().email)
    page = _text(staff.get("/annulations/"))
    assert f'data-request="{one.request_id}"' in page and f'data-request="{two.request_id}"' in page
    assert "certificat.pdf" in page and "Varicelle" in page and "45,00\u00a0€" in page
    assert "/revue-dossiers/document/" in page
    document_link = page.split('href="/revue-dossiers/document/')[1].split('"')[0]
    assert staff.get(f"/revue-dossiers/document/{document_link}").data.startswith(b"%PDF")

    # A refusal without a reason is refused, in French; nothing changes.
    empty = staff.post(f"/annulations/demande/{two.request_id}/refuser", data={"note": " "}, follow_redirects=True)
    assert "Indiquez à la famille le motif du refus." in _text(empty)
    refused = staff.post(f"/annulations/demande/{two.request_id}/refuser", data={"note": "Pas de justificatif"},
                         follow_redirects=True)
    assert "Demande refusée" in _text(refused) and status(app, second) == "confirmed"
    accepted = staff.post(f"/annulations/demande/{one.request_id}/accepter", follow_redirects=True)
    assert "Un avoir de 45,00\u00a0€ est crédité" in _text(accepted) and status(app, first) == "cancelled"
    again = staff.post(f"/annulations/demande/{one.request_id}/accepter", follow_redirects=True)
    assert "déjà été traitée" in _text(again)
    assert staff.post("/annulations/demande/99999999/accepter", follow_redirects=True).status_code == 200
    assert staff.post(f"/annulations/demande/{one.request_id}/autre").status_code == 404
    assert "Aucune demande en attente." in _text(staff.get("/annulations/"))
    assert_money_conserved(app, fam.id)
    with app.app_context():
        mail = db.session.execute(select(MailLog).where(MailLog.kind == "cancellation_refused")).scalar_one()
        assert "Pas de justificatif" in mail.body_text

    parent = login(app.test_client(), fam.email)
    assert parent.get("/annulations/").status_code in (302, 403, 404)
    assert status(app, second) == "confirmed"


def test_staff_set_a_period_rules_and_parents_read_them(app, factory, login):
    from app.models import Reservation, db
    from app.services.booking.cancellation import quote, rules_for

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(children=[("Léa", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    staff = login(app.test_client(), factory.staff().email)
    page = _text(staff.get("/annulations/regles"))
    assert f'data-period="{cat.period_id}"' in page and "Annulation gratuite jusqu'au" in page
    bad = staff.post(f"/annulations/regles/{cat.period_id}", data={"free_days_before": "abc", "outcome": "credit"},
                     follow_redirects=True)
    assert "Indiquez un nombre de jours entre 0 et 365." in _text(bad)
    staff.post(f"/annulations/regles/{cat.period_id}",
               data={"free_days_before": "3", "outcome": "refund", "late_with_justification": "1"})
    with app.app_context():
        rules = rules_for(cat.period_id)
        assert (rules.free_days_before, rules.outcome, rules.late_with_justification) == (3, "refund", True)
        assert "vous seront remboursés sur votre carte" in quote(db.session.get(Reservation, line)).message
    assert staff.post("/annulations/regles/99999999", data={"free_days_before": "3", "outcome": "credit"},
                      follow_redirects=True).status_code == 200


def test_staff_grant_withdraw_and_refund_a_credit_with_a_reason(app, factory, login):
    from sqlalchemy import select

    from app.models import AuditLog, MailLog, db

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(last_name="Morel", children=[("Léa", 8)])
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    staff = login(app.test_client(), factory.staff().email)
    base = f"/annulations/avoirs/{fam.id}"
    assert "Aucune famille n'a d'avoir." in _text(staff.get("/annulations/avoirs"))
    no_reason = staff.post(f"{base}/accorder", data={"amount": "20", "reason": ""}, follow_redirects=True)
    assert "Indiquez le motif." in _text(no_reason)
    bad_amount = staff.post(f"{base}/accorder", data={"amount": "vingt", "reason": "x"}, follow_redirects=True)
    assert "Indiquez un montant en euros" in _text(bad_amount)
    staff.post(f"{base}/accorder", data={"amount": "20,50", "reason": "Geste commercial"})
    assert money(app, fam.id)["balance"] == 2050
    too_much = staff.post(f"{base}/retirer", data={"amount": "100", "reason": "Erreur"}, follow_redirects=True)
    assert "Montant trop élevé" in _text(too_much)
    staff.post(f"{base}/retirer", data={"amount": "0.50", "reason": "Erreur de saisie"})
    staff.post(f"{base}/rembourser-carte", data={"amount": "10", "reason": "Demande de la famille"})
    staff.post(f"{base}/rembourser-regie", data={"amount": "5", "reason": "Virement du 3 mars"})
    m = assert_money_conserved(app, fam.id, granted=2050, withdrawn=50)
    assert m["balance"] == 500 and m["refunded"] == 1000 and m["regie"] == 500
    page = _text(staff.get(base))
    assert "5,00\u00a0€" in page and "AV-" in page and "Geste commercial" in page
    listing = _text(staff.get("/annulations/avoirs"))
    assert f'href="/annulations/avoirs/{fam.id}"' in listing
    assert staff.get(f"/annulations/avoirs?famille={fam.id}").headers["Location"].endswith(base)
    assert "Aucun dossier famille" in _text(staff.get("/annulations/avoirs?famille=99999999", follow_redirects=True))
    assert staff.get("/annulations/avoirs/99999999").status_code == 404
    assert f'href="{base}"' in _text(staff.get(f"/dossiers-famille/{fam.id}"))  # from the family's file
    assert staff.post(f"{base}/inconnu", data={"amount": "1", "reason": "x"}).status_code == 404
    with app.app_context():
        actions = [a for a in db.session.execute(select(AuditLog.action).where(
            AuditLog.household_id == fam.id)).scalars() if a.startswith("credit")]
        assert {"credit_note.issued", "credit.withdrawal", "credit.refund_card", "credit.refund_regie"} <= set(actions)
        mails = [m.body_text for m in db.session.execute(select(MailLog).where(
            MailLog.kind == "credit_changed").order_by(MailLog.id)).scalars()]
    assert len(mails) == 4  # the refused attempts mailed nothing
    assert "accordé un avoir de 20,50\u00a0€" in mails[0] and "Geste commercial" in mails[0]
    assert "maintenant de 20,50\u00a0€" in mails[0] and "AV-" in mails[0]
    assert "a retiré 0,50\u00a0€" in mails[1] and "maintenant de 20,00\u00a0€" in mails[1]
    assert "rembourse 10,00\u00a0€" in mails[2] and "par virement" in mails[3] and "maintenant de 5,00\u00a0€" in mails[3]

    parent = login(app.test_client(), fam.email)
    assert parent.post(f"{base}/accorder", data={"amount": "100", "reason": "moi"}).status_code in (302, 403, 404)
    assert money(app, fam.id)["balance"] == 500


def test_a_late_request_through_the_parent_page_reaches_the_queue(app, factory, login):
    cat = factory.catalog(capacities=(10,))
    fam = factory.household(children=[("Léa", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    from app.services.payments.cancellations import cancel_by_parent
    from tests.support.db import call

    pending = call(app, cancel_by_parent, fam.id, line, reason="Hospitalisation",
                   now=after_deadline(app, cat.week_ids[0]))
    staff = login(app.test_client(), factory.staff().email)
    page = _text(staff.get("/annulations/"))
    assert f'data-request="{pending.request_id}"' in page and "Aucun fichier" in page and "Hospitalisation" in page
