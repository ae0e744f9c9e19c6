"""The waiting room of a first-come opening (issue 21): admission in arrival order at the configured
rate, the admitted let in without a second wait, forged or expired tickets queued again (never a
500), the API's 429 with position and Retry-After, the French queue page, staff's live screen, and
the room off by default. Time is a hand-moved clock: nothing here measures speed."""
from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from app.services import tasks
from app.services.booking import waiting_room
from app.views.waiting_room import COOKIE, COOKIE_PATH
from tests.support.clients import jwt_headers

API = "/api/v1/portal"
PAGE = "/famille/inscrire/"
T0 = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _clear(app) -> None:
    connection = tasks.state(app).connection
    for key in connection.scan_iter("portail:salle*"):
        connection.delete(key)


@pytest.fixture
def clock(app, monkeypatch):
    """The room in force (1 admission a second, 1 at once), on a clock the test moves."""
    fake = Clock()
    monkeypatch.setattr(waiting_room, "clock", fake)
    monkeypatch.setitem(app.config, "WAITING_ROOM", "on")
    monkeypatch.setitem(app.config, "WAITING_ROOM_RATE", 1)
    monkeypatch.setitem(app.config, "WAITING_ROOM_BURST", 1)
    monkeypatch.setitem(app.config, "WAITING_ROOM_ADMITTED_MINUTES", 20)
    _clear(app)
    yield fake
    _clear(app)
    app.extensions.pop("portail_waiting_room_openings", None)


# --- the rule ------------------------------------------------------------------------------

def test_admits_in_arrival_order_whatever_order_they_ask_in(app, clock):
    """20 parents arrive at once; then every second they all ask again, in a random order: exactly one
    is let in per second, and always the one who arrived first among those still waiting."""
    rng = random.Random(21)
    users = list(range(101, 121))
    tokens, admitted_at = {}, {}
    with app.test_request_context():
        for user in users:
            decision = waiting_room.enter(user, None)
            tokens[user] = decision.token
            if decision.admitted:
                admitted_at[user] = 0
            else:
                assert decision.position == users.index(user) and decision.wait_seconds >= 1
        assert admitted_at == {101: 0}  # the first goes straight in, the others queue
        for second in range(1, 30):
            clock.now = T0 + second
            asking = [u for u in users if u not in admitted_at]
            rng.shuffle(asking)
            for user in asking:
                decision = waiting_room.enter(user, tokens[user])
                if decision.admitted:
                    admitted_at[user] = second
                else:
                    tokens[user] = decision.token
    assert [admitted_at[u] for u in users] == list(range(20))  # one a second, in arrival order


def test_a_parent_told_to_come_back_in_n_seconds_is_let_in_then_not_before(app, clock, monkeypatch):
    """Retry-After is the turn's due time (capped at MAX so the position shown stays fresh): coming
    back when told lets the parent in at the first try once the wait is under MAX, and never too
    late; one second earlier, the turn has not come. So the queue is asked about once per MAX
    seconds of wait, not every few seconds."""
    monkeypatch.setitem(app.config, "WAITING_ROOM_RATE", 4)
    monkeypatch.setitem(app.config, "WAITING_ROOM_BURST", 4)
    users = list(range(201, 601))  # 400 at once at 4 a second: the last waits ~100 s
    with app.test_request_context():
        tickets = {user: waiting_room.enter(user, None).token for user in users}
        for user in (users[20], users[150], users[399]):  # each asks again now, then as told
            decision, asks, start = waiting_room.enter(user, tickets[user]), 1, clock.now
            while not decision.admitted:
                refresh = decision.refresh_seconds
                assert waiting_room.MIN_REFRESH_SECONDS <= refresh <= waiting_room.MAX_REFRESH_SECONDS
                if waiting_room.MIN_REFRESH_SECONDS <= decision.wait_seconds <= waiting_room.MAX_REFRESH_SECONDS:
                    assert refresh == decision.wait_seconds
                    clock.now += refresh - 1  # a second early: not yet
                    early = waiting_room.enter(user, decision.token)
                    assert not early.admitted and early.position >= 1
                    clock.now += 1
                else:
                    clock.now += refresh
                decision, asks = waiting_room.enter(user, decision.token), asks + 1
            # Let in at the first try after the due time: one ask per MAX seconds of wait, + 2.
            assert asks <= (clock.now - start) // waiting_room.MAX_REFRESH_SECONDS + 2, (user, asks)


def test_position_is_kept_per_parent_without_a_ticket(app, clock):
    """A second tab, or the API after the page, keeps the same place (the queue is per user)."""
    with app.test_request_context():
        assert waiting_room.enter(1, None).admitted
        first = waiting_room.enter(2, None)
        waiting_room.enter(3, None)
        again = waiting_room.enter(2, None)  # no ticket this time
    assert (first.position, again.position) == (1, 1)


def test_admitted_get_in_without_a_second_wait_until_their_time_runs_out(app, clock):
    with app.test_request_context():
        pass_token = waiting_room.enter(7, None).token
        for user in range(8, 60):  # a long queue forms behind
            assert not waiting_room.enter(user, None).admitted
        again = waiting_room.enter(7, pass_token)
        assert again.admitted and again.token is None  # the pass alone lets them in
        assert waiting_room.enter(7, None).admitted  # and without it (another tab, the API): remembered
        clock.now = T0 + 21 * 60  # the pass has run out: back in the queue, behind those who wait
        # (21 minutes at 1/s released everybody: make a new crowd first)
        for user in range(200, 260):
            waiting_room.enter(user, None)
        late = waiting_room.enter(7, pass_token)
    assert not late.admitted and late.position == 60


@pytest.mark.parametrize("kind", ["garbage", "other_key", "other_user", "tampered"])
def test_a_forged_ticket_is_queued_again_not_admitted(app, clock, kind):
    with app.test_request_context():
        assert waiting_room.enter(1, None).admitted
        waiting_room.enter(2, None)
        pass_of_3 = waiting_room._pass_token(3)
        forged = {
            "garbage": "n'importe quoi",
            "other_key": URLSafeTimedSerializer("une autre clé", salt="portail-waiting-room").dumps({"u": 9, "ok": 1}),
            "other_user": pass_of_3,
            "tampered": pass_of_3[:-2] + ("AA" if not pass_of_3.endswith("AA") else "BB"),
        }[kind]
        decision = waiting_room.enter(9, forged)
    assert not decision.admitted and decision.position == 2


def test_redis_down_lets_parents_in(app, clock, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(waiting_room, "_run", broken)
    with app.test_request_context():
        assert waiting_room.enter(1, None).admitted
        assert waiting_room.status().reachable is False


def test_auto_is_in_force_around_an_opening_only(app, factory, clock, monkeypatch):
    monkeypatch.setitem(app.config, "WAITING_ROOM", "auto")
    clock.now = time.time()
    factory.catalog(opens_in=-timedelta(days=3))
    with app.app_context():
        assert not waiting_room.in_force()
    app.extensions.pop("portail_waiting_room_openings", None)
    factory.catalog(opens_in=timedelta(minutes=3))
    with app.app_context():
        assert waiting_room.in_force()
    monkeypatch.setitem(app.config, "WAITING_ROOM", "off")
    with app.app_context():
        assert not waiting_room.in_force()


# --- the booking pages ---------------------------------------------------------------------

def test_off_by_default(app, factory, login):
    assert app.config["WAITING_ROOM"] == "off"
    parents = [factory.household() for _ in range(3)]
    for parent in parents:
        page = login(app.test_client(), parent.email).get(PAGE)
        assert page.status_code == 200 and "Salle d'attente" not in page.get_data(as_text=True)


def test_queue_page_in_french_then_admitted_with_a_pass(app, factory, login, clock):
    first, second, third = (login(app.test_client(), factory.household().email) for _ in range(3))
    assert first.get(PAGE).status_code == 200
    assert first.get_cookie(COOKIE, path=COOKIE_PATH) is not None  # its pass
    queued = second.get(PAGE)
    html = queued.get_data(as_text=True)
    assert queued.status_code == 200 and "<h1>Salle d'attente</h1>" in html
    assert "Vous êtes la prochaine famille à entrer." in html and "Attente estimée" in html
    assert queued.headers["Cache-Control"] == "no-store"
    assert "waiting-room.js" in html and "<script>" not in html  # strict CSP: the refresh is a file
    assert "Choisissez l'enfant" not in html  # nothing of the booking page leaks out
    third_html = third.get(PAGE).get_data(as_text=True)
    assert "Vous êtes <strong>2<sup>e</sup></strong> dans la file : 1 famille avant vous." in third_html
    clock.now += 1
    admitted = second.get(PAGE)
    assert admitted.status_code == 200 and "Choisissez l'enfant" in admitted.get_data(as_text=True)
    for _ in range(3):  # a crowd queues behind: the admitted keep going without a second wait
        login(app.test_client(), factory.household().email).get(PAGE)
    assert "Choisissez l'enfant" in second.get(PAGE).get_data(as_text=True)
    assert "Choisissez l'enfant" in first.get(PAGE).get_data(as_text=True)
    assert "Salle d'attente" in third.get(PAGE).get_data(as_text=True)  # still queued (its turn: next second)


def test_a_forged_cookie_gets_the_queue_page_not_an_error(app, factory, login, clock):
    login(app.test_client(), factory.household().email).get(PAGE)  # takes the only token
    browser = login(app.test_client(), factory.household().email)
    browser.set_cookie(COOKIE, "faux.ticket.signé", path=COOKIE_PATH)
    answer = browser.get(PAGE)
    assert answer.status_code == 200 and "Salle d'attente" in answer.get_data(as_text=True)


def test_a_queued_form_post_adds_nothing_and_says_so(app, factory, login, clock):
    """A parent whose pass ran out posts the weeks form: the queue page, nothing half-done, and its
    refresh link goes back to the page by GET."""
    from app.models import Reservation, db

    catalog = factory.catalog()
    login(app.test_client(), factory.household().email).get(PAGE)  # takes the only token
    family = factory.household()
    parent = login(app.test_client(), family.email)
    url = f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}"
    answer = parent.post(url, data={"week": str(catalog.week_ids[0]), f"transport-{catalog.week_ids[0]}": "onsite"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Salle d'attente" in html
    assert f'href="{url}" data-waiting-room-refresh=' in html
    with app.app_context():
        assert db.session.query(Reservation).count() == 0


def test_staff_and_the_basket_are_never_queued(app, factory, login, clock):
    login(app.test_client(), factory.household().email).get(PAGE)  # takes the only token
    parent = login(app.test_client(), factory.household().email)
    assert "Salle d'attente" not in parent.get("/famille/panier/").get_data(as_text=True)
    staff = login(app.test_client(), factory.staff().email)
    assert "Salle d'attente" not in staff.get(PAGE).get_data(as_text=True)
    assert "Salle d'attente" in parent.get(PAGE).get_data(as_text=True)


def test_anonymous_visitors_go_to_the_login_page(app, clock):
    answer = app.test_client().get(PAGE)
    assert answer.status_code == 302 and "login" in answer.headers["Location"]


# --- the API -------------------------------------------------------------------------------

def test_api_answers_429_with_position_retry_after_and_ticket(app, factory, clock):
    factory.catalog()
    first, second = factory.household(), factory.household()
    client_1, headers_1 = app.test_client(), None
    headers_1 = jwt_headers(client_1, first.email)
    client_2 = app.test_client()
    headers_2 = jwt_headers(client_2, second.email)
    ok = client_1.get(f"{API}/children/{first.child_ids[0]}/offers", headers=headers_1)
    assert ok.status_code == 200 and ok.headers["X-Waiting-Room-Ticket"]
    waiting = client_2.get(f"{API}/children/{second.child_ids[0]}/offers", headers=headers_2)
    assert waiting.status_code == 429
    body = waiting.get_json()
    assert body["code"] == "waiting_room" and "Attente estimée" in body["message"]
    details = body["details"]
    assert details["position"] == 1 and details["wait_seconds"] >= 1
    assert int(waiting.headers["Retry-After"]) >= 1
    assert waiting.headers["X-Waiting-Room-Ticket"] == details["ticket"]
    # add-to-basket is behind the same door, with the same place
    add = client_2.post(f"{API}/basket/lines", json={}, headers={**headers_2, "X-Waiting-Room-Ticket": details["ticket"]})
    assert add.status_code == 429 and add.get_json()["details"]["position"] == 1
    clock.now += 1
    let_in = client_2.get(f"{API}/children/{second.child_ids[0]}/offers",
                          headers={**headers_2, "X-Waiting-Room-Ticket": details["ticket"]})
    assert let_in.status_code == 200
    pass_token = let_in.headers["X-Waiting-Room-Ticket"]
    for _ in range(3):  # others queue; the admitted parent keeps its way in with the pass
        other = factory.household()
        client = app.test_client()
        client.get(f"{API}/children/{other.child_ids[0]}/offers", headers=jwt_headers(client, other.email))
    again = client_2.get(f"{API}/children/{second.child_ids[0]}/offers",
                         headers={**headers_2, "X-Waiting-Room-Ticket": pass_token})
    assert again.status_code == 200
    # A forged ticket does not jump the queue: a waiting parent keeps its own place.
    third = factory.household()
    client_3 = app.test_client()
    headers_3 = jwt_headers(client_3, third.email)
    first_try = client_3.get(f"{API}/children/{third.child_ids[0]}/offers", headers=headers_3)
    assert first_try.status_code == 429 and first_try.get_json()["details"]["position"] == 4
    forged = client_3.get(f"{API}/children/{third.child_ids[0]}/offers",
                          headers={**headers_3, "X-Waiting-Room-Ticket": pass_token})  # someone else's pass
    assert forged.status_code == 429 and forged.get_json()["details"]["position"] == 4


def test_admitted_on_the_pages_get_in_on_the_api_without_a_second_wait(app, factory, login, clock):
    factory.catalog()
    family = factory.household()
    assert "Choisissez l'enfant" in login(app.test_client(), family.email).get(PAGE).get_data(as_text=True)
    for _ in range(3):  # a queue forms behind
        login(app.test_client(), factory.household().email).get(PAGE)
    client = app.test_client()
    headers = jwt_headers(client, family.email)  # the app, without any ticket yet
    answer = client.get(f"{API}/children/{family.child_ids[0]}/offers", headers=headers)
    assert answer.status_code == 200 and answer.headers["X-Waiting-Room-Ticket"]
    clock.now += 21 * 60  # after WAITING_ROOM_ADMITTED_MINUTES, a new crowd: queued like anyone
    for _ in range(2):
        login(app.test_client(), factory.household().email).get(PAGE)
    assert client.get(f"{API}/children/{family.child_ids[0]}/offers", headers=headers).status_code == 429


def test_a_queued_refresh_costs_no_database_and_the_admitted_still_pass_the_gate(app, factory, clock):
    """The queue is answered from the token and Redis alone (no statement), and who is let in then
    goes through the whole gate: a token whose password changed meanwhile is refused, not served."""
    from app.models import db
    from app.services.household.accounts import bump_auth_stamp
    from tests.booking_helpers import count_queries

    factory.catalog()
    first, second = factory.household(), factory.household()
    client_1, client_2 = app.test_client(), app.test_client()
    headers_1, headers_2 = jwt_headers(client_1, first.email), jwt_headers(client_2, second.email)
    assert client_1.get(f"{API}/children/{first.child_ids[0]}/offers", headers=headers_1).status_code == 200
    with count_queries(app) as seen:
        waiting = client_2.get(f"{API}/children/{second.child_ids[0]}/offers", headers=headers_2)
    assert waiting.status_code == 429 and seen == []
    ticket = waiting.get_json()["details"]["ticket"]
    with app.app_context():
        user = app.appbuilder.sm.session.query(app.appbuilder.sm.user_model).filter_by(email=second.email).one()
        bump_auth_stamp(user.id)  # the password changed on another device
        db.session.commit()
    clock.now += 1
    refused = client_2.get(f"{API}/children/{second.child_ids[0]}/offers",
                           headers={**headers_2, "X-Waiting-Room-Ticket": ticket})
    assert refused.status_code == 401 and refused.get_json()["code"] == "session_ended"


def test_api_still_asks_for_a_token_first(app, clock):
    assert app.test_client().get(f"{API}/children/1/offers").status_code == 401


def test_openapi_documents_the_429(app, factory):
    client = app.test_client()
    document = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    for path, method in (("/api/v1/portal/children/{child_id}/offers", "get"), ("/api/v1/portal/basket/lines", "post")):
        assert document["paths"][path][method]["responses"]["429"] == {
            "$ref": "#/components/responses/PortalWaitingRoom"}
    described = document["components"]["responses"]["PortalWaitingRoom"]
    assert "position" in described["description"] and "Retry-After" in described["headers"]


def test_queue_message_next_or_families_ahead(app):
    """The API's message: next to go in, one family ahead, several ahead; the wait in words."""
    with app.test_request_context():
        next_one = waiting_room.queue_message(waiting_room.Decision(admitted=False, position=1, wait_seconds=20))
        one = waiting_room.queue_message(waiting_room.Decision(admitted=False, position=2, wait_seconds=90))
        several = waiting_room.queue_message(waiting_room.Decision(admitted=False, position=4, wait_seconds=3900))
    assert next_one == ("Beaucoup de familles s'inscrivent en ce moment : vous êtes la prochaine à entrer. "
                        "Attente estimée : moins d'une minute. Votre place est gardée : réessayez avec votre ticket.")
    assert one == ("Beaucoup de familles s'inscrivent en ce moment : 1 famille avant vous. "
                   "Attente estimée : environ 2 minutes. Votre place est gardée : réessayez avec votre ticket.")
    assert several.startswith("Beaucoup de familles s'inscrivent en ce moment : 3 familles avant vous. "
                              "Attente estimée : environ 1 h 05.")


# --- staff ---------------------------------------------------------------------------------

def test_staff_see_the_queue_live(app, factory, login, clock):
    for _ in range(4):
        login(app.test_client(), factory.household().email).get(PAGE)  # 1 admitted, 3 waiting
    clock.now += 1  # one more let in
    staff = login(app.test_client(), factory.staff().email)
    page = staff.get("/salle-attente/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="num wr-waiting">2<' in html
    assert 'class="num wr-admitted">2<' in html
    assert "en service maintenant" in html and "waiting-room.js" in html
    assert 'class="wr-head">' in html and "personne n'attend" not in html
    parent = login(app.test_client(), factory.household().email)
    assert parent.get("/salle-attente/").status_code in (302, 403)
