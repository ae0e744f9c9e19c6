"""What every portal API module shares: JSON answers and typed service errors as JSON."""
from __future__ import annotations

import functools

from flask import jsonify, make_response

from app.services.errors import Busy, ServiceError


def json_response(status: int, body: dict):
    """JSON response; BaseApi.response() cannot carry a "code" key (its first parameter)."""
    response = make_response(jsonify(body), status)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


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
            response = json_response(exc.http_status, body)
            if isinstance(exc, Busy) or exc.http_status == 503:
                response.headers["Retry-After"] = "5"
            return response

    return wrapper
