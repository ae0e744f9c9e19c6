"""What every portal API module shares: the base class (JWT only, one OpenAPI tag, the schemas and
error answers of the document), JSON answers dumped through their schema, and typed service
errors as JSON."""
from __future__ import annotations

import functools
from typing import ClassVar

from flask import Response, jsonify, make_response, request
from flask_appbuilder.api import BaseApi
from marshmallow import Schema

from app.api import gate, schemas
from app.services.errors import Busy, ServiceError


def _reason_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PortalReason"}}}}


class PortalBaseApi(BaseApi):
    """The parent API's common ground. Write endpoints are JWT only (`allow_browser_login = False`):
    FAB's REST APIs are CSRF-exempt, so a browser session must not reach them."""

    allow_browser_login = False
    openapi_spec_tag = "Portail familles"
    openapi_spec_component_schemas = schemas.REQUEST_SCHEMAS + schemas.ANSWER_SCHEMAS
    # Every error the services raise has the PortalReason shape: the docstrings name these.
    responses: ClassVar[dict] = {
        **BaseApi.responses,
        "PortalInvalid": _reason_response("Corps de requête invalide : code et message en français."),
        "PortalNotFound": _reason_response("Introuvable, ou pas à votre foyer (code not_found, no_household…)."),
        "PortalConflict": _reason_response("Refus avec sa raison (full, age, already_booked…)."),
        "PortalBusy": _reason_response("Trop de demandes simultanées ou service momentanément indisponible : "
                                       "réessayer (en-tête Retry-After)."),
        "PortalWaitingRoom": schemas.WAITING_ROOM_RESPONSE,  # issue 21: the opening's waiting room
    }

    def __init_subclass__(cls, **kwargs):
        """Every `@protect()` endpoint of a parent API goes through the light gate (app/api/gate.py):
        FAB's answer, without FAB's per-request permission queries."""
        super().__init_subclass__(**kwargs)
        gate.install(cls)


def json_response(status: int, body: dict) -> Response:
    """JSON response; BaseApi.response() cannot carry a "code" key (its first parameter)."""
    response = make_response(jsonify(body), status)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


def answer(status: int, schema: Schema, data) -> Response:
    """An answer dumped through its schema: only declared (so documented) keys leave the API."""
    return json_response(status, schema.dump(data))


def conditional(response: Response, max_age: int) -> Response:
    """A private answer a phone may keep `max_age` seconds, with an ETag of its body: a refresh that
    brings back the ETag it holds gets 304 and no body while nothing it shows has changed."""
    response.headers["Cache-Control"] = f"private, max-age={max_age}"
    response.vary.add("Authorization")
    response.add_etag()
    return response.make_conditional(request)


def service_errors(fn):
    """Typed service errors become JSON {"code", "message"[, "details"]} with their HTTP status;
    a busy server also says when to try again."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except ServiceError as exc:
            body = {"code": exc.code, "message": exc.message}
            if exc.details:
                body["details"] = exc.details
            response = answer(exc.http_status, schemas.reason_answer, body)
            if isinstance(exc, Busy) or exc.http_status == 503:
                response.headers["Retry-After"] = "5"
            return response

    return wrapper
