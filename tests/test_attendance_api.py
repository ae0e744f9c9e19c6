"""The animators' API (issue 18): restricted to the role and to the animator's rows, idempotent
sync, session writes only with the CSRF token, in the OpenAPI document."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests import attendance_data as data
from tests.support.clients import jwt_headers


def _this_week(app):
    from app.services.operations.attendance import paris_today
    from app.services.operations.open_days import week_monday

    with app.app_context():
        return week_monday(paris_today())


@pytest.fixture
def s(app, factory):
    """The worked example moved to the current week (animators only see this week)."""
    monday = _this_week(app)
    built = data.build(app, factory, monday=monday)
    with app.app_context():
        from app.services.operations.open_days import week_open_days

        built.day = next(d.day for d in week_open_days(built.cat.establishment_id, monday) if d.is_open)
    return built


def _tick(s, client_id, child_id=None, **extra):
    return data.tick(s, child_id or s.ines, s.day, client_id=client_id, at=f"{s.day.isoformat()}T09:00:00+02:00",
                     **extra)


def test_the_animator_reads_their_sheet_and_nothing_else(app, s, make_client):
    client = make_client()
    headers = jwt_headers(client, s.animator.email)
    response = client.get(f"/api/v1/animator/attendance/{s.cat.establishment_id}/{s.day}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert sorted(c["first_name"] for c in body["children"]) == ["Inès", "Tom", "Zoé"]
    text = response.get_data(as_text=True)
    for word in ("price", "cents", "quotient", "caf_number", "address", "document", "Besse-sur-Issole", "medical"):
        assert word not in text
    for url in [f"/api/v1/animator/attendance/{s.other.establishment_id}/{s.day}",
                f"/api/v1/animator/attendance/{s.cat.establishment_id}/{s.monday + timedelta(days=7)}",
                f"/api/v1/animator/boarding/{s.cat.circuit_id}/{s.day}/morning",
                "/api/v1/animator/attendance/99999999999/2026-01-01"]:
        assert client.get(url, headers=headers).status_code == 404, url
    assert client.get(f"/api/v1/animator/attendance/{s.cat.establishment_id}/hier", headers=headers).status_code == 400
    # No parent API, no money, no staff screens.
    assert client.get("/api/v1/portal/children", headers=headers).status_code in (401, 403)
    staff_client = make_client()
    staff_client.post("/login/", data={"username": s.animator.email, "password": "Motdepasse-solide-42"})
    for url in ["/listes/", "/paiements/", "/revue-dossiers/", "/famille/"]:
        assert staff_client.get(url).status_code in (302, 403, 404), url


def test_parents_and_staff_cannot_use_the_animator_api(app, s, factory, make_client):
    for user in (s.ines_household, factory.staff()):
        client = make_client()
        headers = jwt_headers(client, user.email)
        assert client.get(f"/api/v1/animator/attendance/{s.cat.establishment_id}/{s.day}",
                          headers=headers).status_code == 403
        assert client.post("/api/v1/animator/sync", json={"ticks": [_tick(s, "evil")]},
                           headers=headers).status_code == 403


def test_sync_twice_and_the_driver_refused_a_child_of_another_stop(app, s, make_client):
    client = make_client()
    headers = jwt_headers(client, s.animator.email)
    batch = {"ticks": [_tick(s, "api-1"), _tick(s, "api-2", s.tom, status="absent", absence_reason="justified")]}
    first = client.post("/api/v1/animator/sync", json=batch, headers=headers)
    assert first.status_code == 200
    assert [r["outcome"] for r in first.get_json()["results"]] == ["applied", "applied"]
    again = client.post("/api/v1/animator/sync", json=batch, headers=headers)
    assert [r["outcome"] for r in again.get_json()["results"]] == ["duplicate", "duplicate"]
    sheet = client.get(f"/api/v1/animator/attendance/{s.cat.establishment_id}/{s.day}", headers=headers).get_json()
    assert {c["first_name"]: c["status"] for c in sheet["children"]} == {"Inès": "present", "Tom": "absent",
                                                                         "Zoé": None}
    assert client.post("/api/v1/animator/sync", json={"ticks": "x"}, headers=headers).status_code == 400

    driver = make_client()
    headers = jwt_headers(driver, s.driver.email)
    sheet = driver.get(f"/api/v1/animator/boarding/{s.cat.circuit_id}/{s.day}/morning", headers=headers).get_json()
    assert [(st["position"], [c["first_name"] for c in st["children"]]) for st in sheet["stops"]] == [
        (1, ["Inès"]), (2, ["Zoé"]), (3, [])]
    tick = dict(kind="boarding", client_id="bus-1", circuit_id=s.cat.circuit_id, stop_id=s.cat.stop_ids[0],
                child_id=s.zoe, day=s.day.isoformat(), leg="morning", boarded=True)
    result = driver.post("/api/v1/animator/sync", json={"ticks": [tick]}, headers=headers).get_json()["results"][0]
    assert result["outcome"] == "refused" and result["code"] == "not_on_stop"
    assert "Non inscrit à cet arrêt" in result["message"]


def test_a_session_write_needs_the_csrf_token(app, s, make_client, login):
    client = login(make_client(), s.animator.email)
    url = f"/api/v1/animator/attendance/{s.cat.establishment_id}/{s.day}"
    assert client.get(url).status_code == 200  # the page's own session reads
    response = client.post("/api/v1/animator/sync", json={"ticks": [_tick(s, "csrf-1")]})
    assert response.status_code == 400 and response.get_json()["code"] == "csrf"
    with client.session_transaction():
        pass
    page = client.get("/animateur/")
    assert page.status_code == 200
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post("/api/v1/animator/sync", json={"ticks": [_tick(s, "csrf-2")]},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["results"][0]["outcome"] == "applied"


def test_the_animator_api_is_in_the_openapi_document(app, factory, make_client):
    client = make_client()
    doc = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    assert {"/api/v1/animator/sync", "/api/v1/animator/attendance/{establishment_id}/{day}",
            "/api/v1/animator/boarding/{circuit_id}/{day}/{leg}"} <= set(doc["paths"])
    assert "AnimatorSyncRequest" in doc["components"]["schemas"]
