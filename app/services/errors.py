"""Typed errors raised by services. Each carries a stable code and a French message for people."""
from __future__ import annotations


class ServiceError(Exception):
    """Base class: `code` for programs (API), `message` in French for people."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, code: str | None = None, **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class ValidationFailed(ServiceError):
    code = "invalid"
    http_status = 400


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Forbidden(ServiceError):
    code = "forbidden"
    http_status = 403


class Conflict(ServiceError):
    """The request is valid but the state does not allow it (full, already booked…)."""

    code = "conflict"
    http_status = 409


class Busy(ServiceError):
    """A lock could not be taken in time: the person should simply try again."""

    code = "busy"
    http_status = 503
