"""The parent API's marshmallow schemas: the OpenAPI document they generate, the answers they
describe, and the French messages of request validation.

The document is checked the way a client generator would read it: every portal route has its
request and answer schemas as references, every reference exists, path ids carry the database's
bound. Then real answers of a whole journey are validated against the document itself (objects
closed with additionalProperties: false), so a key added to an answer without its schema fails here.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator

from tests.booking_helpers import add, confirm_basket
from tests.support.clients import jwt_headers
from tests.support.payments import call, make_basket

API = "/api/v1/portal"

# (path, method) -> (request component or None, success status, answer component)
PORTAL_OPERATIONS = {
    ("/api/v1/portal/children", "get"): (None, "200", "PortalChildren"),
    ("/api/v1/portal/children/{child_id}/offers", "get"): (None, "200", "PortalOffers"),
    ("/api/v1/portal/basket", "get"): (None, "200", "PortalBasket"),
    ("/api/v1/portal/basket/lines", "post"): ("PortalAddLineRequest", "201", "PortalAddedLine"),
    ("/api/v1/portal/basket/lines/{line_id}", "delete"): (None, "200", "PortalMessage"),
    ("/api/v1/portal/reservations", "get"): (None, "200", "PortalReservations"),
    ("/api/v1/portal/basket/checkout", "post"): (None, "200", "PortalCheckout"),
}


@pytest.fixture
def spec(app, factory):
    client = app.test_client()
    response = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email))
    assert response.status_code == 200
    return response.get_json()


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(spec, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not exist in the document"
        node = node[part]
    return node


def _json_schema(node):
    """OpenAPI 3.0 schema → JSON Schema 2020-12: `nullable` becomes a null alternative and every
    object with properties is closed, so an undocumented key in an answer is an error."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if "properties" in converted and converted.get("type") == "object":
        converted.setdefault("additionalProperties", False)
    if node.get("nullable"):
        converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def _validator(spec, component: str):
    root = {"$ref": f"#/components/schemas/{component}",
            "components": {"schemas": _json_schema(spec["components"]["schemas"])}}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def _assert_valid(spec, component: str, body):
    errors = sorted(_validator(spec, component).iter_errors(body), key=str)
    assert not errors, f"{component}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


# --- the document ---------------------------------------------------------------------------

def test_every_portal_route_references_its_request_and_answer_schemas(spec):
    for (path, method), (request_name, status, answer_name) in PORTAL_OPERATIONS.items():
        operation = spec["paths"][path][method]
        answer = operation["responses"][status]["content"]["application/json"]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{answer_name}"}, (path, answer)
        if request_name:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{request_name}"}, (path, body)
            assert operation["requestBody"]["required"] is True
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")) and code != "401":
                schema = (_resolve(spec, response["$ref"]) if "$ref" in response else response)
                assert schema["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/PortalReason"}, (path, code)
        assert operation["tags"] == ["Portail familles"]
        assert operation["security"], path


def test_every_reference_in_the_document_exists(spec):
    refs = set(_refs(spec))
    assert {"#/components/schemas/PortalAddLineRequest", "#/components/schemas/PortalReason"} <= refs
    for ref in refs:
        _resolve(spec, ref)
    for name, schema in spec["components"]["schemas"].items():
        if name.startswith("Portal"):
            Draft202012Validator.check_schema(_json_schema(schema))


def test_path_and_body_ids_carry_the_database_bound(spec):
    from app.views.hardening import MAX_ID

    for path, name in (("/api/v1/portal/children/{child_id}/offers", "child_id"),
                       ("/api/v1/portal/basket/lines/{line_id}", "line_id")):
        method = next(iter(spec["paths"][path]))
        (parameter,) = [p for p in spec["paths"][path][method]["parameters"] if p["in"] == "path"]
        assert parameter["name"] == name and parameter["required"] is True
        assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    request = spec["components"]["schemas"]["PortalAddLineRequest"]
    assert set(request["required"]) == {"child_id", "week_id", "transport"}
    for name in ("child_id", "week_id"):
        assert request["properties"][name]["type"] == "integer"
        assert (request["properties"][name]["minimum"], request["properties"][name]["maximum"]) == (1, MAX_ID)
    transport = spec["components"]["schemas"]["PortalTransportChoice"]
    assert transport["required"] == ["mode"]
    assert transport["properties"]["mode"]["enum"] == ["bus", "onsite"]
    assert transport["properties"]["stop_id"]["maximum"] == MAX_ID


# --- answers match the document -------------------------------------------------------------

def test_a_whole_journey_answers_what_the_document_says(app, factory, spec):
    catalog = factory.catalog(bus_price_cents=500)
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    confirmed = add(app, family.id, family.child_ids[1], catalog.week_ids[1],
                    {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    assert confirmed
    confirm_basket(app, family.id)
    client = app.test_client()
    headers = jwt_headers(client, family.email)

    def check(response, status, component):
        assert response.status_code == status, response.get_data(as_text=True)
        _assert_valid(spec, component, response.get_json())
        return response.get_json()

    check(client.get(f"{API}/children", headers=headers), 200, "PortalChildren")
    offers = check(client.get(f"{API}/children/{family.child_ids[0]}/offers", headers=headers), 200,
                   "PortalOffers")
    assert offers["establishments"][0]["periods"][0]["transport"]["circuits"][0]["stops"]
    check(client.get(f"{API}/basket", headers=headers), 200, "PortalBasket")  # no basket
    added = check(client.post(f"{API}/basket/lines", headers=headers,
                              json={"child_id": family.child_ids[0], "week_id": catalog.week_ids[0],
                                    "transport": {"mode": "bus", "stop_id": catalog.stop_ids[1]}}),
                  201, "PortalAddedLine")
    basket = check(client.get(f"{API}/basket", headers=headers), 200, "PortalBasket")
    assert basket["seconds_left"] > 0 and basket["lines"][0]["transport"]["stop"]["id"] == catalog.stop_ids[1]
    check(client.post(f"{API}/basket/lines", headers=headers,
                      json={"child_id": family.child_ids[0], "week_id": catalog.week_ids[0],
                            "transport": {"mode": "onsite"}}), 409, "PortalReason")
    check(client.post(f"{API}/basket/lines", headers=headers, json={"child_id": "Léa"}), 400, "PortalReason")
    reservations = check(client.get(f"{API}/reservations", headers=headers), 200, "PortalReservations")
    assert reservations["reservations"][0]["stop_change_open"] is True
    check(client.post(f"{API}/basket/checkout", headers=headers), 200, "PortalCheckout")
    check(client.delete(f"{API}/basket/lines/{added['line']['id']}", headers=headers), 409, "PortalReason")
    check(client.get(f"{API}/children/0/offers", headers=headers), 404, "PortalReason")


def test_a_lapsed_basket_answers_what_the_document_says(app, factory, spec):
    lapsed = make_basket(app, factory, expires_in=timedelta(minutes=-1), bus=True)
    client = app.test_client()
    response = client.get(f"{API}/basket", headers=jwt_headers(client, lapsed.household.email))
    body = response.get_json()
    assert body["lapsed"]["basket_id"] == lapsed.basket_id and body["lapsed"]["lines"]
    _assert_valid(spec, "PortalBasket", body)


def test_the_schemas_keep_every_key_the_services_return(app, factory):
    """Dumping through a schema drops what it does not declare: a key a service adds later must
    be declared (and so documented), or this fails."""
    from app.api import schemas
    from app.services.booking import basket as basket_service
    from app.services.booking import eligibility

    live = make_basket(app, factory, bus=True, weeks=(0, 1))
    lapsed = make_basket(app, factory, catalog=live.catalog, expires_in=timedelta(minutes=-1))
    paid = make_basket(app, factory, catalog=live.catalog, bus=True)
    confirm_basket(app, paid.household.id)
    offers = call(app, lambda: eligibility.offers(live.household.id, live.household.child_ids[0]).as_dict())
    assert schemas.PortalOffers().dump(offers) == offers
    for household in (live.household, lapsed.household):
        summary = call(app, lambda household_id: basket_service.public_summary(
            basket_service.basket_summary(household_id)), household.id)
        assert summary["lines"] or summary["lapsed"]["lines"]
        assert schemas.PortalBasket().dump(summary) == summary
    rows = {"reservations": call(app, basket_service.reservations, paid.household.id)}
    assert rows["reservations"] and schemas.PortalReservations().dump(rows) == rows


# --- request validation ---------------------------------------------------------------------

GOOD = {"child_id": 1, "week_id": 1, "transport": {"mode": "onsite"}}


@pytest.mark.parametrize("body, code, field, words", [
    ({"week_id": 1, "transport": {"mode": "onsite"}}, "invalid", "child_id", "child_id est obligatoire"),
    ({**GOOD, "child_id": "3"}, "invalid", "child_id", "nombre entier"),
    ({**GOOD, "child_id": 2.0}, "invalid", "child_id", "nombre entier"),
    ({**GOOD, "child_id": 0}, "invalid", "child_id", "entre 1 et 2147483647"),
    ({**GOOD, "child_id": 2**31}, "invalid", "child_id", "entre 1 et 2147483647"),
    ({**GOOD, "week_id": None}, "invalid", "week_id", "week_id est obligatoire"),
    ({**GOOD, "week_id": [1]}, "invalid", "week_id", "nombre entier"),
    ({**GOOD, "transport": None}, "transport_required", "transport", "transport est obligatoire"),
    ({**GOOD, "transport": {"mode": ""}}, "transport_required", "transport.mode", "obligatoire"),
    ({**GOOD, "transport": {"mode": None}}, "transport_required", "transport.mode", "obligatoire"),
    ({**GOOD, "transport": {"mode": 3}}, "invalid_transport", "transport.mode", "« bus » ou « onsite »"),
    ({**GOOD, "transport": {"mode": "bus", "stop_id": "12"}}, "invalid_stop", "transport.stop_id", "nombre entier"),
    ({**GOOD, "transport": {"mode": "bus", "stop_id": -1}}, "invalid_stop", "transport.stop_id", "entre 1 et"),
    ([GOOD], "invalid", None, "objet JSON"),
])
def test_bad_bodies_get_a_french_message_naming_the_field(app, factory, body, code, field, words):
    family = factory.household()
    client = app.test_client()
    response = client.post(f"{API}/basket/lines", headers=jwt_headers(client, family.email), json=body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["code"] == code and words in payload["message"], payload
    assert payload.get("details", {}).get("field") == field


def test_the_first_bad_field_in_declaration_order_is_reported(app, factory):
    family = factory.household()
    client = app.test_client()
    response = client.post(f"{API}/basket/lines", headers=jwt_headers(client, family.email),
                           json={"transport": "x", "week_id": "y", "child_id": 5})
    assert response.get_json()["details"]["field"] == "week_id"


def test_unknown_keys_are_ignored_and_a_good_body_books(app, factory):
    catalog = factory.catalog()
    family = factory.household()
    client = app.test_client()
    response = client.post(f"{API}/basket/lines", headers=jwt_headers(client, family.email),
                           json={"child_id": family.child_ids[0], "week_id": catalog.week_ids[0], "note": "x",
                                 "transport": {"mode": "bus", "stop_id": catalog.stop_ids[0], "seat": 3}})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["line"]["transport"]["stop"]["id"] == catalog.stop_ids[0]


def test_path_ids_use_the_same_bound_and_are_french_404s(app, factory):
    from app.api.ids import MAX_ID
    from app.api.schemas import load_path_id
    from app.services.errors import NotFound
    from app.views.hardening import MAX_ID as GUARD_MAX_ID

    assert MAX_ID == GUARD_MAX_ID == 2**31 - 1
    assert load_path_id("child_id", MAX_ID) == MAX_ID
    for value in (0, -4, MAX_ID + 1, True, "7"):
        with pytest.raises(NotFound) as caught:
            load_path_id("child_id", value)
        assert caught.value.code == "not_found" and "introuvable" in caught.value.message
    family = factory.household()
    client = app.test_client()
    response = client.delete(f"{API}/basket/lines/0", headers=jwt_headers(client, family.email))
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
