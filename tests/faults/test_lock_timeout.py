"""A lock that does not come: another transaction holds the row, the portal gives up after
LOCK_TIMEOUT_SECONDS (half a second here) and tells the parent, in French, to try again.

PostgreSQL only (SQLite serialises whole transactions instead of rows). Each test holds a row
lock from a connection of its own, sends the request from a thread, and checks that the answer
came while the lock was still held (no hang until release), that it is a designed refusal and
not a 500, and that nothing was written; then the lock is released and the same request succeeds.
"""
from __future__ import annotations

import html
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.support.clients import jwt_headers

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

BUSY_WORDS = "réessayez dans quelques secondes"


@contextmanager
def row_locked(database_url: str, table: str, row_id: int):
    """Hold `SELECT … FOR UPDATE` on one row from another connection until the block ends."""
    engine = create_engine(database_url)
    conn = engine.connect()
    try:
        conn.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": row_id}).one()
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def answered_while_locked(database_url, table, row_id, request):
    """Run `request()` in a thread while the row is locked; it must finish before we release."""
    result = {}

    def run():
        try:
            result["response"] = request()
        except Exception as exc:  # TESTING propagates what would be a 500
            result["error"] = exc

    with row_locked(database_url, table, row_id):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the request waited for the lock instead of timing out"
    assert "error" not in result, f"the request crashed: {result.get('error')!r}"
    return result["response"]


def _counts(app):
    from app.models import AuditLog, Basket, Reservation, db

    with app.app_context():
        counts = {model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar()
                  for model in (Basket, Reservation, AuditLog)}
    return counts


def test_add_line_api_answers_busy_in_french_while_the_week_is_locked(lock_app, lock_factory, pg_url):
    catalog = lock_factory.catalog()
    family = lock_factory.household()
    client = lock_app.test_client()
    headers = jwt_headers(client, family.email)
    body = {"child_id": family.child_ids[0], "week_id": catalog.week_ids[0], "transport": {"mode": "onsite"}}
    before = _counts(lock_app)

    response = answered_while_locked(pg_url, "week", catalog.week_ids[0],
                                     lambda: client.post("/api/v1/portal/basket/lines", json=body, headers=headers))
    assert response.status_code in (409, 503), response.get_data(as_text=True)
    assert response.get_json()["code"] == "busy" and BUSY_WORDS in response.get_json()["message"]
    assert response.headers.get("Retry-After")
    assert _counts(lock_app) == before  # nothing half-written

    retry = client.post("/api/v1/portal/basket/lines", json=body, headers=headers)
    assert retry.status_code == 201, retry.get_data(as_text=True)


def test_add_line_api_answers_busy_while_another_tab_holds_the_household(lock_app, lock_factory, pg_url):
    catalog = lock_factory.catalog()
    family = lock_factory.household()
    client = lock_app.test_client()
    headers = jwt_headers(client, family.email)
    body = {"child_id": family.child_ids[0], "week_id": catalog.week_ids[1], "transport": {"mode": "onsite"}}

    response = answered_while_locked(pg_url, "household", family.id,
                                     lambda: client.post("/api/v1/portal/basket/lines", json=body, headers=headers))
    assert response.status_code in (409, 503) and response.get_json()["code"] == "busy"
    assert client.post("/api/v1/portal/basket/lines", json=body, headers=headers).status_code == 201


def test_booking_page_shows_the_busy_message_next_to_the_week(lock_app, lock_factory, pg_url, login):
    catalog = lock_factory.catalog()
    family = lock_factory.household()
    client = login(lock_app.test_client(), family.email)
    week_id = catalog.week_ids[0]
    url = f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}"
    form = {"week": str(week_id), f"transport-{week_id}": "onsite"}
    before = _counts(lock_app)

    response = answered_while_locked(pg_url, "week", week_id, lambda: client.post(url, data=form))
    assert response.status_code < 500
    page = html.unescape(response.get_data(as_text=True))
    assert BUSY_WORDS in page and "Rien n'a été enregistré" in page
    assert _counts(lock_app) == before

    retry = client.post(url, data=form)
    assert retry.status_code in (302, 303)
    assert _counts(lock_app)["Reservation"] == before["Reservation"] + 1


def test_checkout_answers_busy_while_the_basket_is_locked(lock_app, lock_factory, pg_url):
    from app.models import Basket, Payment, db

    catalog = lock_factory.catalog()
    family = lock_factory.household()
    client = lock_app.test_client()
    headers = jwt_headers(client, family.email)
    added = client.post("/api/v1/portal/basket/lines", headers=headers, json={
        "child_id": family.child_ids[0], "week_id": catalog.week_ids[0], "transport": {"mode": "onsite"}})
    assert added.status_code == 201
    basket_id = added.get_json()["basket_id"]

    response = answered_while_locked(pg_url, "basket", basket_id,
                                     lambda: client.post("/api/v1/portal/basket/checkout", json={}, headers=headers))
    assert response.status_code in (409, 503), response.get_data(as_text=True)
    assert response.get_json()["code"] == "busy" and BUSY_WORDS in response.get_json()["message"]
    with lock_app.app_context():
        assert db.session.get(Basket, basket_id).status == "open"
        assert db.session.execute(select(func.count()).select_from(Payment)).scalar() == 0

    retry = client.post("/api/v1/portal/basket/checkout", json={}, headers=headers)
    assert retry.status_code == 200 and retry.get_json()["payment_url"]
