"""Malformed input on every parent form and API route: no 500, anywhere.

The routes are not listed by hand: the API operations come from the portal's own OpenAPI document
(/api/v1/_openapi) and the forms from the URL map (every route of a Parent…View, the account pages,
the login and the payment pages), so a route added later is fuzzed without editing this file.
Hypothesis draws, for each request, a route, its path ids (the household's own, another
household's, zero, huge, words), a query string, and a body: JSON shaped after the route's schema
with wrong types, any JSON, bytes that are not JSON, or form fields named like the real ones
(gathered from the pages themselves) with hostile values (NUL bytes, very long text, odd dates,
numbers beyond any integer, file uploads). Any answer is fine except a 5xx; under TESTING an
unhandled exception is raised into the test instead of a 500, and fails it the same way.
"""
from __future__ import annotations

import io
import os
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clients import jwt_headers
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.faults

API_EXAMPLES = 250
FORM_EXAMPLES = 300
# Derandomised so that a CI failure replays the same way; FAULTS_EXPLORE=1 draws new examples.
FUZZ_SETTINGS = dict(deadline=None, derandomize=not os.environ.get("FAULTS_EXPLORE"), database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large])

# Endpoints a parent (or a visitor) reaches; staff screens are another suite's business.
PARENT_VIEW = re.compile(r"^Parent[A-Za-z]*View\.")
ACCOUNT_ENDPOINT = re.compile(r"^(RegisterUserDBView|AuthDBView|ResetMyPasswordView)\.")
# Logging out is a legitimate end of the fuzzing session (GET only asks, POST logs out): not fuzzed.
SKIP_ENDPOINTS = re.compile(r"\.(logout|logout_post|download|document_download)$")


# --- data ----------------------------------------------------------------------------------------

def _world(app, factory):
    """A validated household with two children, a held line, a guardian and an authorised
    pick-up person, and another household with a payment page open: the ids the fuzzer mixes
    with nonsense, by the name of the route argument they fit."""
    from app.models import AuthorizedPickup, Guardian, HouseholdChild, Payment, db
    from app.services import payments
    from tests.support.payments import call, make_basket

    basket = make_basket(app, factory, children=(("Léa", 8), ("Tom", 6)), weeks=(0,), bus=True)
    family, catalog = basket.household, basket.catalog
    other = make_basket(app, factory, children=(("Autre", 7),), weeks=(1,), catalog=catalog)
    call(app, payments.start_checkout, other.household.id)
    with app.app_context():
        link = db.session.query(HouseholdChild).filter_by(household_id=family.id).first()
        pickup = AuthorizedPickup(link_id=link.id, name="Mamie Rose", phone="0611223344")
        db.session.add(pickup)
        db.session.commit()
        guardians = [g.id for g in db.session.query(Guardian).filter_by(household_id=family.id)]
        other_guardians = [g.id for g in db.session.query(Guardian).filter_by(household_id=other.household.id)]
        tokens = [p.provider_ref for p in db.session.query(Payment) if p.provider_ref]
        pools = {
            "child_id": family.child_ids + other.household.child_ids,
            "period_id": [catalog.period_id],
            "line_id": basket.line_ids + other.line_ids,
            "guardian_id": guardians + other_guardians,
            "pickup_id": [pickup.id],
            "basket_id": [basket.basket_id, other.basket_id],
            "token": tokens,
        }
    ids = sorted({i for name, values in pools.items() if name != "token" for i in values}
                 | set(catalog.week_ids) | set(catalog.stop_ids) | {family.id, other.household.id})
    return SimpleNamespace(family=family, catalog=catalog, ids=ids, pools=pools)


huge = st.sampled_from([0, -1, 2**31, 2**31 - 1, 2**63, 10**30])
words = st.text(min_size=1, max_size=40)


def path_ids(world, name: str | None = None):
    """Mostly ids that fit the argument (so the request reaches the code behind the route), else
    any id of the data set, zero, negative, beyond 32 or 64 bits."""
    fitting = world.pools.get(name or "") or world.ids
    return st.one_of(st.sampled_from(fitting), st.sampled_from(fitting), st.sampled_from(fitting),
                     st.sampled_from(world.ids), huge, st.integers(min_value=1, max_value=500))


def hostile_text():
    return st.one_of(
        st.text(max_size=60),  # any Unicode, NUL included
        st.just("\x00"), st.just("a\x00b"), st.text(min_size=3000, max_size=6000, alphabet="é'\"<>&;-"),
        st.sampled_from(["", " ", "0", "-1", "1e309", "NaN", "2026-02-30", "31/13/2026", "9" * 40, "true",
                         "null", "[]", "{}", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd",
                         "onsite", "bus", "stop-1", "stop-999999999999999999999", "pay", "refuse"]),
        st.integers(min_value=-2**70, max_value=2**70).map(str),
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


def schema_body(schema: dict | None, world) -> st.SearchStrategy:
    """A body shaped after the route's JSON schema, each field right or wrong: wrong types and
    missing fields are where validation code forgets a case."""
    if not schema or schema.get("type") != "object" or not schema.get("properties"):
        return json_values
    fields = {}
    for name, prop in schema["properties"].items():
        if prop.get("type") == "integer":
            right = st.sampled_from(world.ids) | huge
        elif prop.get("type") == "object":
            right = schema_body(prop, world)
        elif "enum" in prop:
            right = st.sampled_from(prop["enum"])
        else:
            right = st.text(max_size=20)
        fields[name] = right | json_values
    return st.fixed_dictionaries({}, optional=fields) | json_values


# --- the API -------------------------------------------------------------------------------------

def _api_operations(app, factory):
    """(method, path template, path parameter names, JSON body schema) from the OpenAPI document."""
    staff = factory.staff()
    client = app.test_client()
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, staff.email)).get_json()
    operations = []
    for path, methods in spec["paths"].items():
        if "{version}" in path:
            continue
        for method, operation in methods.items():
            params = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
            body = (((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {})
            operations.append((method.upper(), path, params, body.get("schema")))
    assert any(path == "/api/v1/portal/basket/lines" for _, path, _, _ in operations), "portal API not documented"
    return operations


def test_every_api_route_answers_malformed_input_without_a_5xx(app, factory):
    world = _world(app, factory)
    operations = _api_operations(app, factory)
    client = app.test_client()
    parent = jwt_headers(client, world.family.email)
    auth_choices = [parent, parent, parent, {}, {"Authorization": "Bearer not.a.token"},
                    {"Authorization": "Basic Zm9vOmJhcg=="}]

    @settings(max_examples=API_EXAMPLES, **FUZZ_SETTINGS)
    @given(data=st.data())
    def fuzz(data):
        method, template, params, schema = data.draw(st.sampled_from(operations), label="operation")
        path = template
        for name in params:
            value = data.draw(path_ids(world, name) | words, label=name)
            path = path.replace("{" + name + "}", str(value).replace("/", "%2F").replace("?", "%3F") or "x")
        query = data.draw(st.dictionaries(st.sampled_from(["q", "page", "page_size", "_l_", "x"]),
                                          hostile_text(), max_size=2), label="query")
        headers = dict(data.draw(st.sampled_from(auth_choices), label="auth"))
        kind = data.draw(st.sampled_from(["schema", "json", "bytes", "form", "none"]), label="body kind")
        kwargs = {}
        if kind == "schema":
            kwargs["json"] = data.draw(schema_body(schema, world), label="body")
        elif kind == "json":
            kwargs["json"] = data.draw(json_values, label="body")
        elif kind == "bytes":
            kwargs["data"] = data.draw(st.binary(max_size=200), label="body")
            headers["Content-Type"] = data.draw(st.sampled_from(["application/json", "text/plain",
                                                                 "application/x-www-form-urlencoded"]))
        elif kind == "form":
            kwargs["data"] = data.draw(st.dictionaries(st.sampled_from(["child_id", "week_id", "transport",
                                                                        "username", "password"]),
                                                       hostile_text(), max_size=3), label="form")
        response = client.open(path, method=method, query_string=query, headers=headers, **kwargs)
        assert response.status_code < 500, (method, path, query, kwargs, response.get_data(as_text=True)[:300])

    fuzz()


# --- the forms -----------------------------------------------------------------------------------

class _FieldNames(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()
        self.files: set[str] = set()
        self.values: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "select", "textarea", "button") and a.get("name") and a["name"] != "csrf_token":
            self.names.add(a["name"])
            if a.get("type") == "file":
                self.files.add(a["name"])
            if a.get("value"):
                self.values.setdefault(a["name"], set()).add(a["value"])
        if tag == "option" and a.get("value"):
            self.values.setdefault("__options__", set()).add(a["value"])


def _form_routes(app):
    """(methods, rule, argument converters, needs login) of every parent-facing page."""
    routes = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if SKIP_ENDPOINTS.search(endpoint):
            continue
        parent = bool(PARENT_VIEW.match(endpoint))
        account = bool(ACCOUNT_ENDPOINT.match(endpoint))
        payments = endpoint.startswith("payments.") and "webhook" not in endpoint
        if not (parent or account or payments):
            continue
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        converters = {name: type(conv).__name__ for name, conv in rule._converters.items()}
        routes.append((methods, rule.rule, converters, parent))
    assert any("/famille/inscrire" in r for _, r, _, _ in routes), "parent pages not found in the URL map"
    return routes


def _fill(rule: str, converters: dict, draw, world) -> str:
    path = rule
    for name, kind in converters.items():
        if kind == "IntegerConverter":
            value = draw(path_ids(world, name), label=name)  # ids beyond 32 bits too: see the test below
        else:
            value = draw(st.sampled_from(world.pools.get(name) or ["x"]) | words.map(
                lambda w: re.sub(r"[/?#%]", "-", w) or "x"), label=name)
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(value), path)
    return path


def _page_fields(client, routes, world) -> tuple[list[str], list[str], list[str]]:
    """Field names, file field names and option values of the real forms, read from every page a
    parent can open."""
    parser = _FieldNames()
    for methods, rule, converters, _ in routes:
        if "GET" not in methods:
            continue
        path = rule
        for name, kind in converters.items():
            value = (world.pools.get(name) or [1])[0]
            path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(value), path)
        response = client.get(path)
        if response.status_code == 200 and "html" in response.content_type:
            parser.feed(response.get_data(as_text=True))
    return sorted(parser.names), sorted(parser.files), sorted(parser.values.get("__options__", set()))


def test_every_parent_form_answers_malformed_input_without_a_5xx(app, factory, login):
    world = _world(app, factory)
    routes = _form_routes(app)
    parent = login(app.test_client(), world.family.email)
    visitor = app.test_client()
    names, file_fields, options = _page_fields(parent, routes, world)
    assert {"week", "first_name"} & set(names), f"no form field found on the parent pages: {names}"
    field_names = st.sampled_from(names) | st.sampled_from(["csrf_token", "action", "next", "x"])
    values = hostile_text() | (st.sampled_from(options) if options else st.nothing()) | st.sampled_from(
        [str(i) for i in world.ids])

    @settings(max_examples=FORM_EXAMPLES, **FUZZ_SETTINGS)
    @given(data=st.data())
    def fuzz(data):
        methods, rule, converters, needs_login = data.draw(st.sampled_from(routes), label="route")
        method = data.draw(st.sampled_from(methods), label="method")
        path = _fill(rule, converters, data.draw, world)
        query = data.draw(st.dictionaries(st.sampled_from(["ajoute", "session_id", "refuse", "next", "_l_", "x"]),
                                          hostile_text(), max_size=2), label="query")
        client = parent if needs_login or data.draw(st.booleans(), label="as parent") else visitor
        kwargs = {}
        if method == "POST":
            form = data.draw(st.dictionaries(field_names, values | st.lists(values, max_size=3), max_size=8),
                             label="form")
            if data.draw(st.booleans(), label="with a file"):
                form[data.draw(st.sampled_from(file_fields or ["file"]), label="file field")] = (io.BytesIO(data.draw(st.binary(max_size=300), label="file bytes")),
                                data.draw(st.sampled_from(["attestation.pdf", "photo.jpg", "../../x.pdf", "a\x00.pdf",
                                                           "é" * 300 + ".png", "sans-extension", ""]),
                                          label="file name"))
                kwargs["content_type"] = "multipart/form-data"
            kwargs["data"] = form
        response = client.open(path, method=method, query_string=query, **kwargs)
        assert response.status_code < 500, (method, path, query, kwargs.get("data"),
                                             response.get_data(as_text=True)[:300])

    fuzz()
    # The fuzzing parent is still who they were: no request logged them in as someone else.
    assert parent.get("/famille/inscrire/").status_code == 200


# Flask-AppBuilder's login schema does not require "provider" but its login view reads
# login_payload["provider"]: a body without it is a KeyError, answered 500 "Fatal error" by FAB's
# @safe. app/views/hardening.py answers 400 first.
def test_jwt_login_without_provider_is_refused_not_a_500(app, factory):
    family = factory.household()
    client = app.test_client()
    for password in (PASSWORD, "mauvais"):
        response = client.post("/api/v1/security/login", json={"username": family.email, "password": password})
        assert response.status_code in (400, 401), response.get_data(as_text=True)


def test_login_api_answers_malformed_credentials_without_a_5xx(app, factory):
    """The JWT login is the only API route open to anyone: hostile bodies never crash it."""
    family = factory.household()
    client = app.test_client()

    @settings(max_examples=60, **FUZZ_SETTINGS)
    @given(body=st.fixed_dictionaries({}, optional={
        "username": hostile_text() | json_values | st.just(family.email),
        "password": hostile_text() | json_values | st.just(PASSWORD),
        "provider": st.sampled_from(["db", "ldap", "", "oauth"]) | json_values,
        "refresh": json_values}) | json_values)
    def fuzz(body):
        response = client.post("/api/v1/security/login", json=body)
        assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])
        if response.status_code == 200:
            assert isinstance(body, dict) and body.get("username") == family.email and body.get("password") == PASSWORD

    fuzz()


def test_booking_form_and_add_api_answer_hostile_fields_without_a_5xx(app, factory, login):
    """The two ways to take a place, with the right child and period and hostile fields: the form's
    week boxes and transport choices, and the API's body."""
    world = _world(app, factory)
    child_id = world.family.child_ids[0]
    page = f"/famille/inscrire/{child_id}/periode/{world.catalog.period_id}"
    parent = login(app.test_client(), world.family.email)
    api = app.test_client()
    headers = jwt_headers(api, world.family.email)
    week_values = st.sampled_from([str(w) for w in world.catalog.week_ids]) | hostile_text()
    transport_values = st.sampled_from(["onsite"] + [f"stop-{s}" for s in world.catalog.stop_ids]) | hostile_text()
    week_field = st.sampled_from([f"transport-{w}" for w in world.catalog.week_ids]) | st.text(max_size=15)

    @settings(max_examples=120, **FUZZ_SETTINGS)
    @given(weeks=st.lists(week_values, max_size=4), transports=st.dictionaries(week_field, transport_values,
                                                                                max_size=4),
           body=st.fixed_dictionaries({"child_id": st.just(child_id) | json_values,
                                       "week_id": st.sampled_from(world.catalog.week_ids) | json_values,
                                       "transport": st.fixed_dictionaries(
                                           {"mode": st.sampled_from(["bus", "onsite"]) | json_values},
                                           optional={"stop_id": st.sampled_from(world.catalog.stop_ids)
                                                     | json_values}) | json_values}))
    def fuzz(weeks, transports, body):
        response = parent.post(page, data={"week": weeks, **transports})
        assert response.status_code < 500, (weeks, transports, response.get_data(as_text=True)[:300])
        response = api.post("/api/v1/portal/basket/lines", json=body, headers=headers)
        assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])
        if response.status_code == 201:  # keep places free for the next examples
            line_id = response.get_json()["line"]["id"]
            assert api.delete(f"/api/v1/portal/basket/lines/{line_id}", headers=headers).status_code == 200

    fuzz()


# --- ids beyond any database integer --------------------------------------------------------------
#
# `<int:…>` accepts any number of digits; PostgreSQL and SQLite refuse ids beyond 64 bits (and
# PostgreSQL's INTEGER beyond 32) with an error that would become a 500. This test sends 2**31, 2**63
# and 10**30 to every parent route taking an id; app/views/hardening.py answers 404 for all of them
# (the household-file pages crashed before it).


def _int_routes(app):
    routes = []
    for methods, rule, converters, parent in _form_routes(app):
        if "IntegerConverter" in converters.values():
            for method in methods:
                routes.append((method, rule, parent))
    spec_routes = [("GET", "/api/v1/portal/children/<int:child_id>/offers", True),
                   ("DELETE", "/api/v1/portal/basket/lines/<int:line_id>", True)]
    return routes + spec_routes


@pytest.mark.parametrize("value", [2**31, 2**63, 10**30])
def test_ids_beyond_any_database_integer_are_not_found(app, factory, login, value):
    family = factory.household()
    parent = login(app.test_client(), family.email)
    api = app.test_client()
    headers = jwt_headers(api, family.email)
    crashes = []
    for method, rule, _ in _int_routes(app):
        path = re.sub(r"<int:[a-z_]+>", str(value), rule)
        client, extra = (api, {"headers": headers}) if rule.startswith("/api/") else (parent, {})
        try:
            status = client.open(path, method=method, **extra).status_code
        except Exception as exc:  # TESTING propagates what would be a 500
            status = f"{exc.__class__.__name__}"
        if not (isinstance(status, int) and status < 500):
            crashes.append(f"{method} {rule}: {status}")
    assert not crashes, crashes
