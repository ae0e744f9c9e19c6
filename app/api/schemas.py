"""Marshmallow schemas of the parent API: what it accepts and what it answers.

One declaration serves three purposes: request bodies and path ids are validated with it (French
messages, the same error codes the services use), answers are dumped through it (so nothing leaves
the API undeclared), and the OpenAPI document is generated from it by Flask-AppBuilder's apispec
plugin. The views' docstrings then only name these schemas, and the document cannot drift from
the code: tests/test_api_schemas.py validates real answers against it.

Component names are the class names (no "Schema" suffix, so FAB's name resolver and the explicit
registration agree) and start with "Portal" because the document is shared by every API.
"""
from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load
from marshmallow.error_store import SCHEMA
from marshmallow.validate import OneOf, Range

from app.api.ids import MAX_ID, MIN_ID
from app.models import (
    BasketStatus,
    HouseholdStatus,
    LinkStatus,
    ReservationStatus,
    TransportMode,
)
from app.services.errors import NotFound, ValidationFailed

# --- request fields -------------------------------------------------------------------------

class _TranslatedErrors:
    """Error messages are lazy French strings, translated when a request fails (in its locale);
    marshmallow would take a lazy string for a list of characters, so it gets the text."""

    def make_error(self, key: str, **kwargs) -> ValidationError:
        message = self.error_messages[key]
        return super().make_error(key, **kwargs) if isinstance(message, str) else ValidationError(str(message))


class Integer(_TranslatedErrors, fields.Integer):
    pass


class String(_TranslatedErrors, fields.String):
    pass


class Nested(_TranslatedErrors, fields.Nested):
    pass


# --- ids ------------------------------------------------------------------------------------


def id_field(name: str, what: str, *, required: bool = True, code: str = "invalid",
             description: str = "") -> Integer:
    """The one definition of an id in a request (body or path): a JSON integer, never a string,
    float or boolean, from 1 to MAX_ID (what the INTEGER columns hold; beyond it PostgreSQL would
    answer with an error instead of "not found"). `code` is the API error code of a bad value,
    `what` completes the French message ("l'identifiant (nombre entier) <what>")."""
    missing = _l("%(name)s est obligatoire : l'identifiant (nombre entier) %(what)s.", name=name, what=what)
    invalid = _l("%(name)s doit être l'identifiant (nombre entier) %(what)s.", name=name, what=what)
    out_of_range = _l("%(name)s doit être un identifiant entre %(min)s et %(max)s.", name=name, min=MIN_ID,
                      max=MAX_ID)
    return Integer(
        required=required, allow_none=not required, strict=True,
        validate=Range(min=MIN_ID, max=MAX_ID, error=out_of_range),
        error_messages={"required": missing, "null": missing, "invalid": invalid, "too_large": out_of_range},
        # missing_code / error_code: the API's error code (read by _first_error, not by apispec).
        metadata={"missing_code": code, "error_code": code, **({"description": description} if description else {})},
    )


# --- requests -------------------------------------------------------------------------------

TRANSPORT_REQUIRED = _l("transport est obligatoire : {\"mode\": \"bus\", \"stop_id\": …} ou "
                        "{\"mode\": \"onsite\"}.")
MODE_REQUIRED = _l("transport.mode est obligatoire : « bus » (avec stop_id) ou « onsite ».")
MODE_INVALID = _l("transport.mode doit être « bus » ou « onsite ».")


class PortalTransportChoice(Schema):
    """The transport of a booked week: a bus stop or on-site drop-off; one is mandatory. Whether a
    bus choice has a stop, and whether the stop serves the period, is the booking service's rule
    (the pages call it too): this schema checks shapes only."""

    class Meta:
        unknown = EXCLUDE  # clients may send more than we read; nothing else is taken from it

    error_messages: ClassVar[dict] = {"type": TRANSPORT_REQUIRED}
    type_error_code = "transport_required"

    mode = String(
        required=True, validate=OneOf(TransportMode.ALL, error=MODE_INVALID),
        error_messages={"required": MODE_REQUIRED, "null": MODE_REQUIRED, "invalid": MODE_INVALID},
        metadata={"missing_code": "transport_required", "error_code": "invalid_transport",
                  "description": "bus : un arrêt de bus (stop_id obligatoire) ; onsite : accueil sur site."})
    stop_id = id_field("stop_id", "d'un arrêt de bus", required=False, code="invalid_stop",
                       description="Arrêt choisi, obligatoire pour le bus (voir les offres de la période).")

    @pre_load
    def _blank_mode_is_no_mode(self, data: Any, **_kwargs) -> Any:
        # The booking service treats "" as "no transport chosen": say "obligatoire", not "inconnu".
        if isinstance(data, dict) and data.get("mode") == "":
            data = {key: value for key, value in data.items() if key != "mode"}
        return data


class PortalAddLineRequest(Schema):
    """POST /basket/lines: one child × one week with its transport."""

    class Meta:
        unknown = EXCLUDE

    error_messages: ClassVar[dict] = {
        "type": _l("Le corps de la requête doit être un objet JSON avec child_id, week_id et transport.")}
    type_error_code = "invalid"

    child_id = id_field("child_id", "d'un de vos enfants")
    week_id = id_field("week_id", "d'une semaine", description="Semaine choisie (voir les offres de l'enfant).")
    transport = Nested(
        PortalTransportChoice, required=True,
        error_messages={"required": TRANSPORT_REQUIRED, "null": TRANSPORT_REQUIRED},
        metadata={"missing_code": "transport_required", "error_code": "transport_required"})


class PortalChildPath(Schema):
    child_id = id_field("child_id", "d'un de vos enfants", code="not_found")


class PortalLinePath(Schema):
    line_id = id_field("line_id", "d'une ligne de votre panier", code="not_found")


_PATH_SCHEMAS: dict[str, Schema] = {"child_id": PortalChildPath(), "line_id": PortalLinePath()}


def _first_error(schema: Schema, messages: dict, prefix: str = "") -> tuple[str | None, Any, str]:
    """(field path, message, API code) of the first bad field in declaration order: the API answers
    one French sentence, like the pages do, and always the same one for the same body."""
    if SCHEMA in messages:
        return prefix[:-1] or None, messages[SCHEMA][0], getattr(schema, "type_error_code", "invalid")
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key not in messages:
            continue
        found = messages[key]
        if isinstance(found, dict) and isinstance(field, fields.Nested):
            return _first_error(field.schema, found, f"{prefix}{key}.")
        message = found[0]
        is_missing = str(message) in (str(field.error_messages.get("required")),
                                      str(field.error_messages.get("null")))
        return f"{prefix}{key}", message, field.metadata.get("missing_code" if is_missing else "error_code",
                                                             "invalid")
    key, found = next(iter(messages.items()))  # not reached: unknown keys are excluded
    return f"{prefix}{key}", found[0] if isinstance(found, list) else found, "invalid"


def load_body(schema: Schema, data: Any) -> dict:
    """A request body validated by its schema, or a ValidationFailed (400) carrying the French
    message and code of its first bad field, answered by app.api.common.service_errors exactly
    like the services' own validation errors."""
    try:
        return schema.load(data)
    except ValidationError as error:
        field, message, code = _first_error(schema, error.messages)
        details = {"field": field} if field else {}
        raise ValidationFailed(str(message), code=code, **details) from None


def load_path_id(name: str, value: Any, schema: Schema | None = None) -> int:
    """A URL id checked with the same field as body ids (`schema`: a route's own one-field path
    schema, else the shared ones). Out of range means no such row: 404."""
    try:
        return (schema or _PATH_SCHEMAS[name]).load({name: value})[name]
    except ValidationError:
        raise NotFound(str(_l("Identifiant introuvable : %(name)s doit être un nombre entier entre %(min)s et "
                              "%(max)s.", name=name, min=MIN_ID, max=MAX_ID)), code="not_found") from None


# --- answers --------------------------------------------------------------------------------
# The services already give JSON-ready values (ISO dates as strings, integer cents): the fields
# below declare them; formats are documentation only.

def _date(**kwargs) -> fields.String:
    return fields.String(metadata={"format": "date", **kwargs.pop("metadata", {})}, **kwargs)


def _datetime(**kwargs) -> fields.String:
    return fields.String(metadata={"format": "date-time", **kwargs.pop("metadata", {})}, **kwargs)


def _clock_time() -> fields.String:
    return fields.String(metadata={"pattern": r"^\d{2}:\d{2}$", "description": "Heure locale HH:MM."})


def _cents(description: str = "Montant en centimes d'euro.", **kwargs) -> fields.Integer:
    return fields.Integer(metadata={"description": description}, **kwargs)


class PortalReason(Schema):
    """A refusal or an error: a stable code for programs and a French message for people."""

    code = fields.String(required=True, metadata={
        "description": "household_not_validated, child_not_validated, age, not_open_yet, closed, full, "
                       "already_booked, already_in_basket, wishes_period, invalid, transport_required, "
                       "invalid_transport, "
                       "stop_required, invalid_stop, not_found, not_in_basket, basket_in_checkout, basket_empty, "
                       "basket_expired, price_changed, busy, waiting_room…"})
    message = fields.String(required=True, metadata={"description": "Explication en français."})
    details = fields.Dict(metadata={"description": "Précisions (champ en cause, dates…)."})


class PortalMessage(Schema):
    message = fields.String(required=True)


class PortalHousehold(Schema):
    status = fields.String(required=True, validate=OneOf(HouseholdStatus.ALL))
    validated = fields.Boolean(required=True)


class PortalChild(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    birth_date = _date(required=True)
    link_status = fields.String(required=True, validate=OneOf(LinkStatus.ALL))
    validated = fields.Boolean(required=True)


class PortalChildren(Schema):
    household = fields.Nested(PortalHousehold, required=True)
    children = fields.List(fields.Nested(PortalChild), required=True)


class PortalStop(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.Integer(metadata={"description": "Rang de l'arrêt sur le circuit (offres seulement)."})
    pickup_time = _clock_time()
    dropoff_time = _clock_time()


class PortalSeatsLeft(Schema):
    week_id = fields.Integer(required=True)
    seats_left = fields.Integer(required=True)


class PortalCircuitOption(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    seats = fields.Integer(required=True)
    stops = fields.List(fields.Nested(PortalStop), required=True)
    seats_left = fields.List(fields.Nested(PortalSeatsLeft), required=True)


class PortalTransportOptions(Schema):
    onsite = fields.Boolean(required=True, metadata={"description": "L'accueil sur site est toujours possible."})
    circuits = fields.List(fields.Nested(PortalCircuitOption), required=True)


class PortalWeekOffer(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    starts_on = _date(required=True)
    ends_on = _date(required=True)
    capacity = fields.Integer(required=True)
    places_left = fields.Integer(required=True)
    available = fields.Boolean(required=True)
    reason = fields.Nested(PortalReason, allow_none=True, required=True)


class PortalPeriodOffer(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    starts_on = _date(required=True)
    ends_on = _date(required=True)
    opens_at = _datetime(required=True)
    closes_at = _datetime(required=True)
    stop_change_deadline = _datetime(allow_none=True, required=True)
    bus_price_cents = _cents(required=True)
    available = fields.Boolean(required=True)
    reason = fields.Nested(PortalReason, allow_none=True, required=True)
    weeks = fields.List(fields.Nested(PortalWeekOffer), required=True)
    transport = fields.Nested(PortalTransportOptions, required=True)


class PortalEstablishmentOffer(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    commune = fields.String(required=True)
    age_min = fields.Integer(required=True)
    age_max = fields.Integer(required=True)
    available = fields.Boolean(required=True)
    reason = fields.Nested(PortalReason, allow_none=True, required=True)
    periods = fields.List(fields.Nested(PortalPeriodOffer), required=True)


class PortalOfferedChild(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    birth_date = _date(required=True)
    link_status = fields.String(required=True, validate=OneOf(LinkStatus.ALL))


class PortalOffers(Schema):
    child = fields.Nested(PortalOfferedChild, required=True)
    reason = fields.Nested(PortalReason, allow_none=True, required=True,
                           metadata={"description": "Ce qui bloque toute inscription de l'enfant, ou null."})
    establishments = fields.List(fields.Nested(PortalEstablishmentOffer), required=True)


class PortalNamed(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PortalLineChild(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)


class PortalLineWeek(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    starts_on = _date(required=True)
    ends_on = _date(required=True)


class PortalLinePeriod(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    stop_change_deadline = _datetime(allow_none=True, required=True)


class PortalLineTransport(Schema):
    mode = fields.String(required=True, validate=OneOf(TransportMode.ALL))
    circuit = fields.Nested(PortalNamed, allow_none=True, required=True)
    stop = fields.Nested(PortalStop, allow_none=True, required=True)


class PortalLine(Schema):
    """A basket line or a reservation: child × week with its transport and price."""

    id = fields.Integer(required=True)
    basket_id = fields.Integer(allow_none=True, required=True)
    status = fields.String(required=True, validate=OneOf(ReservationStatus.ALL))
    child = fields.Nested(PortalLineChild, required=True)
    week = fields.Nested(PortalLineWeek, required=True)
    period = fields.Nested(PortalLinePeriod, required=True)
    establishment = fields.Nested(PortalNamed, required=True)
    transport = fields.Nested(PortalLineTransport, required=True)
    bracket = fields.String(allow_none=True, required=True,
                            metadata={"description": "Tranche de quotient familial appliquée."})
    price_cents = _cents(required=True)
    bus_price_cents = _cents(required=True)
    total_cents = _cents(required=True)
    confirmed_at = _datetime(allow_none=True, required=True)


class PortalReservation(PortalLine):
    stop_change_open = fields.Boolean(required=True,
                                      metadata={"description": "Le changement d'arrêt est encore possible."})


class PortalLapsedBasket(Schema):
    basket_id = fields.Integer(required=True)
    expires_at = _datetime(required=True)
    lines = fields.List(fields.Nested(PortalLine), required=True)


class _OfferChild(Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)


class _OfferWeek(Schema):
    id = fields.Integer(required=True)
    label = fields.String(required=True)
    starts_on = _date(required=True)


class _OfferPlace(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PortalBasketOffer(Schema):
    """A place the waiting list holds for the family: it is paid apart from the basket."""

    id = fields.Integer(required=True, metadata={"description": "L'inscription sur liste d'attente (entry_id)."})
    child = fields.Nested(_OfferChild, required=True)
    week = fields.Nested(_OfferWeek, required=True)
    establishment = fields.Nested(_OfferPlace, required=True)
    offer_expires_at = _datetime(required=True, metadata={"description": "Échéance de la place proposée (UTC)."})
    offer_total_cents = _cents(required=True)
    offer_transport = fields.String(required=True, metadata={"description": "Arrêt, ou « sur place »."})
    pay_path = fields.Function(lambda item: f"/api/v1/portal/waitlist/{item['id']}/pay", required=True,
                               metadata={"type": "string", "description": "POST sans corps : ouvre le paiement."})


class PortalBasketTerm(Schema):
    """A basket line's published cancellation rule, read before paying (issue 14)."""

    line_id = fields.Integer(required=True)
    label = fields.String(required=True, metadata={"description": "Enfant — semaine."})
    sentence = fields.String(required=True, metadata={
        "description": "La règle : annulation gratuite jusqu'à quelle date, avec un avoir ou un remboursement, "
                       "puis avec un justificatif ou plus du tout."})


class PortalBasket(Schema):
    basket_id = fields.Integer(allow_none=True, required=True)
    status = fields.String(allow_none=True, required=True, validate=OneOf(BasketStatus.ACTIVE))
    expires_at = _datetime(allow_none=True, required=True,
                           metadata={"description": "Fin de la réservation des places (UTC)."})
    seconds_left = fields.Integer(metadata={"description": "Secondes restantes (panier en cours seulement)."})
    lines = fields.List(fields.Nested(PortalLine), required=True)
    total_cents = _cents(required=True)
    lapsed = fields.Nested(PortalLapsedBasket, allow_none=True, required=True,
                           metadata={"description": "Sans panier en cours : le dernier panier expiré."})
    waitlist_offers = fields.List(fields.Nested(PortalBasketOffer), metadata={
        "description": "Places proposées par la liste d'attente, à payer avant leur échéance par "
                       "POST /waitlist/{entry_id}/pay (chacune devient alors le panier)."})
    cancellation_terms = fields.List(fields.Nested(PortalBasketTerm), metadata={
        "description": "Conditions d'annulation de chaque ligne, à lire avant de payer."})
    credit_cents = _cents("Avoir disponible du foyer.")
    credit_applied_cents = _cents("Part de l'avoir qui sera déduite de ce panier au paiement.")
    to_pay_cents = _cents("Reste à payer par carte (total_cents − credit_applied_cents).")


class PortalAddedLine(Schema):
    line = fields.Nested(PortalLine, required=True)
    basket_id = fields.Integer(required=True)
    expires_at = _datetime(required=True)
    total_cents = _cents(required=True)


class PortalReservations(Schema):
    reservations = fields.List(fields.Nested(PortalReservation), required=True)


class PortalCheckout(Schema):
    basket_id = fields.Integer(required=True)
    amount_cents = _cents(required=True)
    payment_url = fields.String(allow_none=True, required=True,
                                metadata={"description": "Page de paiement à ouvrir ; null si le panier est "
                                                         "confirmé (total nul)."})
    status = fields.String(required=True, validate=OneOf(("payment_required", "confirmed")))
    credit_cents = _cents("Avoir du foyer déduit de ce panier (amount_cents est le reste à payer par carte).")


# The waiting room's ticket header (app/api/waiting_room.py) and its 429 answer in the OpenAPI
# document (PortalBaseApi.responses): here, below both modules, so that the door can build its
# answer with app/api/common.py without an import cycle.
WAITING_ROOM_HEADER = "X-Waiting-Room-Ticket"
WAITING_ROOM_RESPONSE = {
    "description": "Salle d'attente (code waiting_room) : trop de familles à la fois. `details` donne "
                   "`position` (1 : la prochaine famille à entrer), `wait_seconds` (attente estimée) et "
                   "`ticket`. Renvoyer la requête après Retry-After secondes avec l'en-tête "
                   "X-Waiting-Room-Ticket reçu ; les familles entrent dans l'ordre d'arrivée.",
    "headers": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Secondes avant de réessayer."},
        WAITING_ROOM_HEADER: {"schema": {"type": "string"},
                              "description": "Le ticket à renvoyer (place dans la file)."},
    },
    # The API's one error shape; `details` carries position (1: next to go in), wait_seconds, ticket.
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PortalReason"}}},
}

# Registered as OpenAPI components by the APIs (see app/api/common.py); nested ones follow.
REQUEST_SCHEMAS = (PortalAddLineRequest, PortalTransportChoice)
ANSWER_SCHEMAS = (PortalReason, PortalMessage, PortalChildren, PortalOffers, PortalBasket, PortalAddedLine,
                  PortalReservations, PortalCheckout)

# Module-level instances: marshmallow schemas hold no per-call state, building them costs more than
# using them.
add_line_request = PortalAddLineRequest()
reason_answer = PortalReason()
children_answer = PortalChildren()
offers_answer = PortalOffers()
basket_answer = PortalBasket()
added_line_answer = PortalAddedLine()
message_answer = PortalMessage()
reservations_answer = PortalReservations()
checkout_answer = PortalCheckout()
