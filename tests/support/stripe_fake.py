"""A fake Stripe behind the real stripe-python code, and signed webhook events.

`FakeStripe` is a `stripe.HTTPClient`: stripe-python builds, encodes and sends real requests to it,
and parses its answers into real StripeObjects. It keeps just enough of Stripe's behaviour to catch
mistakes: idempotency keys (same key + same parameters → same answer; different parameters →
idempotency_error), Checkout Session `expires_at` bounds (30 min – 24 h after creation), `expire`
only on open sessions, refunds bounded by the amount paid.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import stripe

WEBHOOK_SECRET = "whsec_test_portail"
SECRET_KEY = "sk_test_portail"


def unflatten(pairs) -> dict:
    """'a[b][0][c]=1' form encoding (stripe-python's) back into nested dicts/lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class FakeStripe(stripe.HTTPClient):
    name = "fake"

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.requests: list[SimpleNamespace] = []
        self.sessions: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[dict, tuple]] = {}
        self.fail_next: list[str] = []  # "connection" or "500"
        self.lose_answers = 0  # the next N requests are processed by "Stripe" but their answer is lost
        self.refuse_expire: set[str] = set()
        self.seq = itertools.count(1)
        self.now = None  # override the fake's clock (epoch seconds)

    # --- inspection ---------------------------------------------------------------------------
    def calls(self, method: str | None = None, path: str | None = None) -> list[SimpleNamespace]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or re.fullmatch(path, r.path))]

    def session_creates(self):
        return self.calls("post", r"/v1/checkout/sessions")

    def refund_requests(self):
        return self.calls("post", r"/v1/refunds")

    # --- test controls ------------------------------------------------------------------------
    def clock(self) -> int:
        return int(self.now if self.now is not None else time.time())

    def pay(self, session_id: str, payment_status: str = "paid") -> dict:
        session = self.sessions[session_id]
        session["status"] = "complete"
        session["payment_status"] = payment_status
        session["payment_intent"] = session["payment_intent"] or f"pi_test_{next(self.seq)}"
        return session

    # --- HTTPClient ---------------------------------------------------------------------------
    def request(self, method, url, headers, post_data=None, *, _usage=None):
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = unflatten(parse_qsl(body or parts.query, keep_blank_values=True))
        record = SimpleNamespace(method=method.lower(), path=parts.path, params=params,
                                 headers=dict(headers or {}), idempotency_key=(headers or {}).get("Idempotency-Key"))
        with self.lock:
            self.requests.append(record)
            if self.fail_next:
                failure = self.fail_next.pop(0)
                if failure == "connection":
                    raise stripe.APIConnectionError("fake network down", should_retry=False)
                return self._error(500, "api_error", "fake outage")
            key = record.idempotency_key if record.method == "post" else None
            if key and key in self.idempotent:
                previous_params, response = self.idempotent[key]
                if previous_params != params:
                    return self._error(400, "idempotency_error",
                                       "Keys for idempotent requests can only be used with the same parameters")
                return response
            response = self._route(record)
            if key and response[1] < 400:  # Stripe keeps no result for a refused request
                self.idempotent[key] = (params, response)
            if self.lose_answers:
                self.lose_answers -= 1
                raise stripe.APIConnectionError("fake answer lost", should_retry=False)
            return response

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError

    def close(self):
        pass

    # --- the fake API -------------------------------------------------------------------------
    @staticmethod
    def _ok(obj: dict, status: int = 200):
        return json.dumps(obj), status, {"Request-Id": "req_fake"}

    @staticmethod
    def _error(status: int, type_: str, message: str, code: str | None = None):
        return json.dumps({"error": {"type": type_, "message": message, "code": code}}), status, {
            "Request-Id": "req_fake"}

    def _route(self, r):
        if r.method == "post" and r.path == "/v1/checkout/sessions":
            return self._create_session(r.params)
        m = re.fullmatch(r"/v1/checkout/sessions/([^/]+)(/expire)?", r.path)
        if m:
            session = self.sessions.get(m.group(1))
            if session is None:
                return self._error(404, "invalid_request_error", "No such checkout.session", "resource_missing")
            if m.group(2):
                if session["status"] != "open" or session["id"] in self.refuse_expire:
                    return self._error(400, "invalid_request_error",
                                       "Only Checkout Sessions with a status in [\"open\"] can be expired.")
                session["status"] = "expired"
            return self._ok(session)
        if r.method == "post" and r.path == "/v1/refunds":
            return self._create_refund(r.params)
        return self._error(404, "invalid_request_error", f"Unrecognized request URL ({r.path})")

    def _create_session(self, p: dict):
        now = self.clock()
        if "payment_method_types" in p:
            return self._error(400, "invalid_request_error", "Received unknown parameter: payment_method_types")
        expires_at = int(p.get("expires_at", now + 24 * 3600))
        if not (now + 30 * 60 <= expires_at <= now + 24 * 3600):
            return self._error(400, "invalid_request_error",
                               "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                               "parameter_invalid_integer")
        items = p.get("line_items") or []
        amount = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
        sid = f"cs_test_{next(self.seq)}"
        session = {
            "id": sid, "object": "checkout.session", "url": f"https://checkout.stripe.test/c/pay/{sid}",
            "status": "open", "payment_status": "unpaid", "mode": p.get("mode"),
            "currency": p.get("currency"), "amount_total": amount, "expires_at": expires_at,
            "client_reference_id": p.get("client_reference_id"), "customer_email": p.get("customer_email"),
            "metadata": p.get("metadata") or {}, "payment_intent": None, "created": now,
        }
        self.sessions[sid] = session
        return self._ok(session)

    def _create_refund(self, p: dict):
        pi = p.get("payment_intent")
        session = next((s for s in self.sessions.values() if s["payment_intent"] == pi), None)
        if session is None or session["payment_status"] != "paid":
            return self._error(400, "invalid_request_error", "No such payment_intent", "resource_missing")
        amount = int(p.get("amount", session["amount_total"]))
        already = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == pi)
        if already + amount > session["amount_total"]:
            return self._error(400, "invalid_request_error", "Refund amount is greater than unrefunded amount",
                               "amount_too_large")
        rid = f"re_test_{next(self.seq)}"
        refund = {"id": rid, "object": "refund", "amount": amount, "payment_intent": pi, "status": "succeeded",
                  "currency": "eur", "metadata": p.get("metadata") or {}}
        self.refunds[rid] = refund
        return self._ok(refund)


# --- webhook events -----------------------------------------------------------------------------

def event(type_: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps({"id": event_id or f"evt_{abs(hash((type_, obj.get('id'), time.time_ns())))}",
                       "object": "event", "type": type_, "api_version": "2026-10-28.endive",
                       "created": int(time.time()), "data": {"object": obj}})


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict:
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp),
            "Content-Type": "application/json"}


def charge_refunded(session: dict, amount_refunded: int) -> dict:
    return {"id": f"ch_{session['payment_intent']}", "object": "charge", "amount": session["amount_total"],
            "amount_refunded": amount_refunded, "refunded": amount_refunded >= session["amount_total"],
            "payment_intent": session["payment_intent"], "currency": "eur"}


def use_stripe(app, monkeypatch, fake: FakeStripe | None = None) -> FakeStripe:
    fake = fake or FakeStripe()
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "stripe")
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 0)
    monkeypatch.setitem(app.extensions, "stripe_http_client", fake)
    return fake
