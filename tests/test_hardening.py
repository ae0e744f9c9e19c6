"""Guards shared by every route."""
from __future__ import annotations


def test_parent_area_errors_are_french_pages(app, factory, login):
    family = factory.household()
    client = login(app.test_client(), family.email)
    response = client.get("/famille/inscrire/999999")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'lang="fr"' in page and "Page introuvable" in page and "Not Found" not in page


def test_staff_errors_keep_their_own_pages(app, factory, login):
    client = login(app.test_client(), factory.staff().email)
    response = client.get("/establishmentview/show/999999")
    assert response.status_code == 404
    assert "Page introuvable" not in response.get_data(as_text=True)


def test_ids_beyond_the_database_integers_are_not_found(app, factory, login):
    family = factory.household()
    client = login(app.test_client(), family.email)
    assert client.get(f"/famille/inscrire/{2**40}").status_code == 404
    staff = login(app.test_client(), factory.staff().email)
    assert staff.get(f"/establishmentview/show/{2**40}").status_code == 404
    assert staff.get("/establishmentview/show/abc").status_code == 404
    assert staff.get("/establishmentview/edit/1.5").status_code == 404


def test_unknown_staff_action_is_not_found(app, factory, login):
    staff = login(app.test_client(), factory.staff().email)
    assert staff.get("/establishmentview/action/no_such_action/1").status_code == 404


def test_draft_household_is_told_why_it_cannot_book(app, factory, login):
    family = factory.household(status="draft", children=[])
    client = login(app.test_client(), family.email)
    page = client.get("/famille/inscrire").get_data(as_text=True)
    assert "pas encore validé" in page


def test_wrong_password_keeps_the_typed_email(app, factory):
    family = factory.household()
    response = app.test_client().post("/login/", data={"username": family.email, "password": "faux"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'value="{family.email}"' in page and "Identifiant ou mot de passe incorrect" in page


def test_login_follows_a_safe_next_only(app, factory):
    family = factory.household()
    client = app.test_client()
    response = client.post("/login/?next=https://evil.example/", data={"username": family.email,
                                                                       "password": "Motdepasse-solide-42"})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]
