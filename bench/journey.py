"""One household's opening-day journey, as a phone would drive the JSON API:
JWT login → children → offers → one to three weeks with a transport → basket → checkout → sandbox payment.

Every request is timed and recorded by step; refusals are expected (demand exceeds the places) and
are followed the way a parent would: a full bus becomes on-site drop-off, a full week another week,
and a week found « complet » ends on its waiting list (`POST /api/v1/portal/waitlist`) — always when
the parent got nothing, for a share of the others.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .http import Client, Response, TransportError, form_with_button, resolve

LOGIN = "/api/v1/security/login"
CHILDREN = "/api/v1/portal/children"
OFFERS = "/api/v1/portal/children/{}/offers"
BASKET = "/api/v1/portal/basket"
LINES = "/api/v1/portal/basket/lines"
CHECKOUT = "/api/v1/portal/basket/checkout"
WAITLIST = "/api/v1/portal/waitlist"


@dataclass
class Options:
    password: str
    bus_share: float = 0.6  # parents asking for the bus
    abandon_share: float = 0.03  # parents who leave their basket unpaid
    refuse_share: float = 0.02  # parents whose card is refused on the sandbox page
    busy_retries: int = 3
    double_tap_share: float = 0.05  # impatient parents whose "add" leaves twice at once (two tabs, a double tap)
    waitlist_share: float = 1.0  # parents who got no week at all and join the list of a full one
    waitlist_partial_share: float = 0.25  # parents who got some weeks but not all, who join for a full one


@dataclass
class Stats:
    """Thread-safe enough: list.append and Counter updates under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    timings: dict = field(default_factory=lambda: defaultdict(list))  # step -> [ms]
    add_window: list = field(default_factory=lambda: [None, None])  # first add sent, last add answered
    statuses: Counter = field(default_factory=Counter)  # (step, status) -> n
    codes: Counter = field(default_factory=Counter)  # (step, code) -> n
    outcomes: Counter = field(default_factory=Counter)
    errors_5xx: int = 0
    lock_timeouts: int = 0
    transport_errors: int = 0
    samples_5xx: list = field(default_factory=list)
    finished: list = field(default_factory=list)  # (perf_counter at the answer, step)
    rush_started: float = 0.0

    def record(self, step: str, response: Response, started: float | None = None) -> dict | None:
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        code = body.get("code") if isinstance(body, dict) and isinstance(body.get("code"), str) else None
        with self.lock:
            self.finished.append((time.perf_counter(), step))
            self.timings[step].append(response.elapsed_ms)
            self.statuses[(step, response.status)] += 1
            if code:
                self.codes[(step, code)] += 1
            if response.status == 503 and code == "busy":
                self.lock_timeouts += 1  # the designed "try again" answer, not a crash
            elif response.status >= 500:
                self.errors_5xx += 1
                if len(self.samples_5xx) < 5:
                    self.samples_5xx.append(f"{step} {response.status} {response.text[:300]}")
            if step == "add" and started is not None:
                ended = time.perf_counter()
                if self.add_window[0] is None or started < self.add_window[0]:
                    self.add_window[0] = started
                if self.add_window[1] is None or ended > self.add_window[1]:
                    self.add_window[1] = ended
        return body

    def transport_error(self, step: str, exc: Exception) -> None:
        with self.lock:
            self.transport_errors += 1
            self.statuses[(step, "no answer")] += 1
            if len(self.samples_5xx) < 5:
                self.samples_5xx.append(f"{step}: {exc}")

    def outcome(self, name: str) -> None:
        with self.lock:
            self.outcomes[name] += 1


def _bookable(offers: dict, child_id: int) -> list[tuple[int, int, list[dict]]]:
    """(child, week, circuits) for every week the offer list says is available."""
    options = []
    for establishment in offers.get("establishments") or []:
        for period in establishment.get("periods") or []:
            if not period.get("available"):
                continue
            circuits = (period.get("transport") or {}).get("circuits") or []
            for week in period.get("weeks") or []:
                if week.get("available") and week.get("places_left", 0) > 0:
                    options.append((child_id, week["id"], circuits))
    return options


def _full_weeks(offers: dict, child_id: int) -> list[tuple[int, int, list[dict]]]:
    """(child, week, circuits) for every week the offer list says is « complet » (reason `full`)."""
    full = []
    for establishment in offers.get("establishments") or []:
        for period in establishment.get("periods") or []:
            circuits = (period.get("transport") or {}).get("circuits") or []
            for week in period.get("weeks") or []:
                if (week.get("reason") or {}).get("code") == "full":
                    full.append((child_id, week["id"], circuits))
    return full


def _transport(rng: random.Random, week_id: int, circuits: list[dict], bus_share: float,
               waiting: bool = False) -> dict:
    """The bus at a random stop with a free seat for `bus_share` of the parents, else on-site; on the
    waiting list (`waiting`), « bus ou sur place » at any stop of the circuit."""
    if waiting:
        stops = [s for c in circuits for s in c.get("stops") or []]
        if stops and rng.random() < bus_share:
            return {"mode": "any", "stop_id": rng.choice(stops)["id"]}
        return {"mode": "onsite"}
    if rng.random() < bus_share:
        with_seats = [c for c in circuits if c.get("stops") and any(
            s.get("week_id") == week_id and s.get("seats_left", 0) > 0 for s in c.get("seats_left") or [])]
        if with_seats:
            circuit = rng.choice(with_seats)
            return {"mode": "bus", "stop_id": rng.choice(circuit["stops"])["id"]}
    return {"mode": "onsite"}


class Journey:
    def __init__(self, client: Client, stats: Stats, options: Options, rng: random.Random):
        self.client = client
        self.stats = stats
        self.options = options
        self.rng = rng

    def _call(self, step: str, method: str, path: str, **kw) -> tuple[Response, dict | None]:
        started = time.perf_counter()
        response = self.client.request(method, path, **kw)
        return response, self.stats.record(step, response, started)

    def run(self, email: str) -> str:
        try:
            return self._run(email)
        except TransportError as exc:
            self.stats.transport_error("journey", exc)
            return "no_answer"

    def _run(self, email: str) -> str:
        rng, opts = self.rng, self.options
        if not self.login(email):
            return "login_failed"

        response, body = self._call("children", "GET", CHILDREN)
        if response.status != 200:
            return "children_failed"
        children = [c["id"] for c in body.get("children", []) if c.get("validated")]
        options, full = [], []
        for child_id in children:
            response, body = self._call("offers", "GET", OFFERS.format(child_id))
            if response.status == 200 and body:
                options += _bookable(body, child_id)
                full += _full_weeks(body, child_id)
        if not options:
            if full and rng.random() < opts.waitlist_share:
                child_id, week_id, circuits = rng.choice(full)
                if self._join(child_id, week_id, _transport(rng, week_id, circuits, opts.bus_share, waiting=True)):
                    return "waitlisted"
            return "nothing_left"

        wanted = rng.randint(1, 3)
        rng.shuffle(options)
        added = refused = 0
        refused_full = []  # (child, week, transport wanted) refused because the week is full
        for child_id, week_id, circuits in options:
            if added >= wanted or refused >= 3:  # a parent gives up after a few refusals
                break
            transport = _transport(rng, week_id, circuits, opts.bus_share)
            status, code, details = self._add(child_id, week_id, transport)
            if status == 409 and code == "full" and (details or {}).get("bucket") == "bus":
                status, code, details = self._add(child_id, week_id, {"mode": "onsite"})  # no seat: drive the child
            if status == 201 or code == "already_in_basket":  # the double tap got there first
                added += 1
            else:
                refused += 1
                if status == 409 and code == "full" and (details or {}).get("bucket") != "bus":
                    refused_full.append((child_id, week_id, transport))
        # A week found « complet »: the list instead of giving up (always when nothing was got).
        waiting = False
        if refused_full and rng.random() < (opts.waitlist_partial_share if added else opts.waitlist_share):
            child_id, week_id, transport = refused_full[0]
            if transport.get("mode") == "bus":
                transport = {"mode": "any", "stop_id": transport["stop_id"]}  # « bus ou sur place »
            waiting = self._join(child_id, week_id, transport)
        if not added:
            return "waitlisted" if waiting else "refused"
        if rng.random() < opts.abandon_share:
            return "abandoned"

        self._call("basket", "GET", BASKET)
        response, body = self._call("checkout", "POST", CHECKOUT, json={})
        if response.status == 404 and not (body or {}).get("code"):
            return "held_no_checkout"  # the checkout API is not there (yet)
        if response.status not in (200, 201) or not body or not body.get("payment_url"):
            return f"checkout_{response.status}"
        return self._pay(body["payment_url"], refuse=rng.random() < opts.refuse_share)

    def _join(self, child_id: int, week_id: int, transport: dict) -> bool:
        """« M'inscrire sur la liste d'attente »; a `503 busy` is retried like an add."""
        payload = {"child_id": child_id, "week_id": week_id, "transport": transport}
        for attempt in range(self.options.busy_retries + 1):
            response, _body = self._call("waitlist_join", "POST", WAITLIST, json=payload)
            if response.status == 503 and attempt < self.options.busy_retries:
                time.sleep(0.2 + self.rng.random() * 0.5)
                continue
            return response.status == 201
        return False  # pragma: no cover

    def call(self, step: str, method: str, path: str, **kw) -> tuple[Response, dict | None]:
        return self._call(step, method, path, **kw)

    def login(self, email: str) -> bool:
        self.client.token = None
        self.client.cookies.clear()
        response, body = self._call("login", "POST", LOGIN, json={
            "username": email, "password": self.options.password, "provider": "db", "refresh": False})
        if response.status != 200 or not body or "access_token" not in body:
            return False
        self.client.token = body["access_token"]
        return True

    def pay(self, payment_url: str, refuse: bool = False) -> str:
        return self._pay(payment_url, refuse)

    def _double_tap(self, payload: dict) -> threading.Thread:
        """The same add from a second connection at the same moment: one of the two must be refused
        (already in the basket), never both accepted; the database check counts what got through."""
        twin = Client(self.client.host, self.client.port, self.client.timeout)
        twin.token = self.client.token

        def send():
            started = time.perf_counter()
            try:
                self.stats.record("add", twin.post(LINES, json=payload), started)
            except TransportError as exc:
                self.stats.transport_error("add", exc)
            finally:
                twin.close()

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        return thread

    def _add(self, child_id: int, week_id: int, transport: dict) -> tuple[int, str | None, dict | None]:
        payload = {"child_id": child_id, "week_id": week_id, "transport": transport}
        twin = self._double_tap(payload) if self.rng.random() < self.options.double_tap_share else None
        try:
            return self._add_once(payload)
        finally:
            if twin is not None:
                twin.join(timeout=120)

    def _add_once(self, payload: dict) -> tuple[int, str | None, dict | None]:
        for attempt in range(self.options.busy_retries + 1):
            response, body = self._call("add", "POST", LINES, json=payload)
            code = (body or {}).get("code") if isinstance(body, dict) else None
            if response.status == 503 and attempt < self.options.busy_retries:
                time.sleep(0.2 + self.rng.random() * 0.5)  # "réessayez dans quelques secondes"
                continue
            return response.status, code, (body or {}).get("details") if isinstance(body, dict) else None
        return 503, "busy", None  # pragma: no cover

    def _pay(self, payment_url: str, refuse: bool) -> str:
        response, _ = self._call("payment_page", "GET", payment_url, headers={"Accept": "text/html"})
        if response.status != 200:
            return f"payment_page_{response.status}"
        found = form_with_button(response.text, "Refuser" if refuse else "Payer")
        if found is None:
            return "payment_form_missing"
        form, fields = found
        page_path = payment_url.split("://", 1)[-1]
        page_path = page_path[page_path.find("/"):] if "/" in page_path else "/"
        response, _ = self._call("pay", "POST", resolve(page_path, form.action), form=fields)
        if response.status >= 400:
            return f"pay_{response.status}"
        # The redirect goes to the portal's return page, a browser page (session login, not JWT):
        # the payment is already confirmed at this point, a phone app would show its own screen.
        return "refused_card" if refuse else "paid"
