"""Staff operation screens: Staff and Admin get every page and export, a Parent gets 403 on each
(including every POST), an anonymous visitor is sent to the login page."""
from __future__ import annotations

import pytest

from tests.test_reports import world  # noqa: F401  (fixture)


def _mail(app, household_id: int) -> int:
    from app.models import MailLog, db

    with app.app_context():
        mail = MailLog(kind="test", to_address="famille@example.test", subject="Objet <b>",
                       body_text="Bonjour <script>",
                       body_html="<p>Bonjour</p><script>alert(1)</script>", household_id=household_id)
        db.session.add(mail)
        db.session.commit()
        mail_id = mail.id
    return mail_id


@pytest.fixture
def pages(app, world):  # noqa: F811
    from app.models import db
    from app.services import audit

    cat, w1 = world["cat"], world["w1"]
    mail_id = _mail(app, world["dupont"].id)
    with app.app_context():
        audit.record("reservation.test", "reservation", world["r_lea"], household_id=world["dupont"].id,
                     before={"a": 1}, after={"a": 2})
        db.session.commit()
    hid = world["dupont"].id
    return {
        "get": [
            "/listes/appel", f"/listes/appel?week_id={w1}", f"/listes/appel?period_id={cat.period_id}",
            f"/listes/appel/imprimer?week_id={w1}", f"/listes/appel/csv?week_id={w1}",
            f"/listes/sur-place?week_id={w1}", f"/listes/sur-place/imprimer?week_id={w1}",
            f"/listes/sur-place/csv?week_id={w1}",
            f"/listes/bus?week_id={w1}", f"/listes/bus?circuit_id={cat.circuit_id}",
            f"/listes/bus/imprimer?week_id={w1}", f"/listes/bus/imprimer?week_id={w1}&par_arret=1",
            f"/listes/bus/csv?week_id={w1}",
            "/tableau-de-bord/", f"/tableau-de-bord/?period_id={cat.period_id}",
            f"/tableau-de-bord/occupation/csv?period_id={cat.period_id}", "/tableau-de-bord/recettes/csv",
            "/journal/", f"/journal/?foyer={hid}&entite=reservation&auteur=syst&du=2000-01-01&au=2100-01-01",
            "/journal/?foyer=Dupont",
            "/staffmaillogview/list/", f"/staffmaillogview/show/{mail_id}",
            "/guichet/", "/guichet/?q=Dupont", f"/guichet/foyer/{hid}",
            f"/guichet/foyer/{hid}?child_id={world['lea']}&week_id={w1}",
            f"/operations/inscription/{world['r_lea']}",
        ],
        "post": [
            (f"/guichet/foyer/{hid}/ajouter",
             {"child_id": world["tom"], "week_id": world["w2"], "transport": "onsite"}),
            (f"/guichet/foyer/{hid}/retirer/{world['r_lea']}", {}),
            (f"/guichet/foyer/{hid}/payer", {"method": "cash"}),
            (f"/operations/inscription/{world['r_lea']}/deplacer", {"week_id": world["w2"], "transport": "same"}),
            (f"/operations/inscription/{world['r_lea']}/annuler", {"reason": "Malade", "refund": "1"}),
        ],
    }


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admin_reach_every_page_and_export(app, factory, make_client, login, pages, role,
                                                    world):  # noqa: F811
    user = getattr(factory, role)()
    client = login(make_client(), user.email)
    for url in pages["get"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if "/csv" in url:
            assert response.mimetype == "text/csv"
            assert response.data.startswith(b"\xef\xbb\xbf")
            assert "attachment" in response.headers["Content-Disposition"]
    # The list pages show what they should (and never the held, expired, cancelled lines).
    roster = client.get(f"/listes/appel?week_id={world['w1']}").get_data(as_text=True)
    assert "DUPONT Léa" in roster and "DUPONT Tom" in roster
    assert "Zoé" not in roster and "Hugo" not in roster and "Nina" not in roster
    printed = client.get(f"/listes/bus/imprimer?week_id={world['w1']}").get_data(as_text=True)
    assert "size: A4" in printed and "page-break-before: always" in printed
    assert "<script src" not in printed and "http://" not in printed and "https://" not in printed
    dashboard = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert "<script src=\"http" not in dashboard and "google" not in dashboard.lower()
    mail = client.get(pages["get"][21]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in mail and "sandbox=\"\"" in mail


def test_parent_is_refused_every_page_export_and_action(app, factory, make_client, login, pages, world):  # noqa: F811
    parent = world["dupont"]
    client = login(make_client(), parent.email)
    for url in pages["get"]:
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code)
    for url, data in pages["post"]:
        response = client.post(url, data=data)
        assert response.status_code == 403, (url, response.status_code)
    with app.app_context():
        from app.models import Reservation, db

        line = db.session.get(Reservation, world["r_lea"])
        assert (line.status, line.week_id) == ("confirmed", world["w1"])  # nothing happened


def test_anonymous_is_sent_to_login(client, pages):
    for url in pages["get"][:3] + ["/tableau-de-bord/", "/journal/", "/guichet/"]:
        response = client.get(url)
        assert response.status_code in (302, 401, 403), url
        if response.status_code == 302:
            assert "/login" in response.headers["Location"]


def test_bad_filters_give_french_messages_not_errors(app, factory, make_client, login, world):  # noqa: F811
    client = login(make_client(), factory.staff().email)
    page = client.get("/listes/appel?week_id=999999").get_data(as_text=True)
    assert "Aucune semaine ne correspond à ce choix." in page
    assert client.get("/listes/bus?week_id=abc&circuit_id=-3").status_code == 200
    response = client.get("/listes/appel/csv?week_id=999999")
    assert response.status_code == 302
    assert client.get("/tableau-de-bord/occupation/csv?period_id=999999").status_code == 302
    assert client.get("/journal/?du=pas-une-date&page=abc&par_page=7").status_code == 200
    assert client.get("/guichet/foyer/999999").status_code == 404
    assert client.get("/operations/inscription/999999").status_code == 404


def test_staff_menu_shows_the_back_office_and_no_security_entry(app, factory, make_client, login):
    """Menu entries are permissions too (menu_access): Staff see every back-office menu, including
    the plain links (bus lists, files to confirm), and none of FAB's security menu. Admin sees both."""
    staff_page = login(make_client(), factory.staff().email).get("/").get_data(as_text=True)
    for href in ["/revue-dossiers/", "/revue-dossiers/rattachements", "/establishmentview/list/", "/paiements/",
                 "/listes/appel", "/listes/bus", "/listes/sur-place", "/tableau-de-bord/", "/journal/", "/guichet/"]:
        assert f'href="{href}"' in staff_page, href
    for href in ["/users/list/", "/roles/list/", "/groups/list/", "/permissions/list/", "/registeruser/list/"]:
        assert href not in staff_page, href
    admin_page = login(make_client(), factory.admin().email).get("/").get_data(as_text=True)
    assert "/users/list/" in admin_page and "/groups/list/" in admin_page and 'href="/listes/bus"' in admin_page


def test_staff_reach_no_security_screen(app, factory, make_client, login):
    """Invariant 12: user, role and group administration and every password form are Admin's."""
    client = login(make_client(), factory.staff().email)
    for url in ["/users/list/", "/users/add", "/roles/list/", "/groups/list/", "/groups/add",
                "/resetpassword/form?pk=1", "/userinfoeditview/form", "/users/userinfo/",
                "/permissions/list/", "/viewmenus/list/", "/permissionviews/list/", "/registeruser/list/",
                "/userstatschartview/chart/", "/api/v1/menu/"]:
        assert client.get(url).status_code in (401, 403), url
