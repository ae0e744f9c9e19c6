"""The parent's « Annuler » on a confirmed week and the credit account (issue 14), thin over the
cancellation rule and the credit services (the JSON API, app/api/credits.py, calls the same ones).

/famille/annulation/<line>           what cancelling now would do, stated before confirming; after the
                                     free deadline, the certificate upload and a request for staff
POST /famille/annulation/<line>      cancel (at once, or the request with its justification)
/famille/avoirs                      the credit balance, its numbered credit notes and their uses

Another household's reservation is a 404 (the services scope every read and write).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.booking import basket as basket_service
from app.services.booking.cancellation import basket_terms, household_quote
from app.services.errors import ServiceError
from app.services.household import documents
from app.services.household.links import household_for_user
from app.services.payments import credits
from app.services.payments.cancellations import cancel_by_parent
from app.views.helpers import household_required, service_errors

RESERVATIONS = "ParentReservationsView.reservations"


class ParentCancellationView(BaseView):
    """« Annuler » a confirmed week under the period's published rules."""

    route_base = "/famille/annulation"
    default_view = "show"

    @expose("/<int:line_id>")
    @has_access
    @household_required
    @service_errors(RESERVATIONS)
    def show(self, household, line_id: int):
        return self._render(household.id, line_id)

    def _render(self, household_id: int, line_id: int, *, error: str | None = None, reason: str = "",
                status: int = 200):
        quote = household_quote(household_id, line_id)  # another household's line: NotFound → 404
        row = next((row for row in basket_service.reservations(household_id) if row["id"] == line_id), None)
        if row is None:  # own line, no longer confirmed
            flash(quote.message, "warning")
            return redirect(url_for(RESERVATIONS))
        return self.render_template("parent/cancellation/cancel.html", row=row, quote=quote, error=error,
                                    reason=reason), status

    @expose("/<int:line_id>", methods=["POST"])
    @has_access
    @household_required
    @service_errors(RESERVATIONS)
    def cancel(self, household, line_id: int):
        try:
            upload = request.files.get("file")
            reason = (request.form.get("reason") or "").strip()
        except RequestEntityTooLarge:
            return self._render(household.id, line_id, error=documents.too_large_message(), status=400)
        quote = household_quote(household.id, line_id)
        document_id = None
        if quote.needs_justification and upload is not None and upload.filename:
            data = upload.read(documents.MAX_BYTES + 1)
            try:
                document_id = documents.add_justification(household, upload.filename, data, actor=g.user).id
            except ServiceError as exc:
                if exc.http_status == 404:
                    abort(404)
                return self._render(household.id, line_id, error=exc.message, reason=reason, status=400)
        result = cancel_by_parent(household.id, line_id, document_id=document_id, reason=reason or None,
                                  actor=g.user)
        if result.outcome == "refused":
            return self._render(household.id, line_id, error=result.message, reason=reason,
                                status=400 if result.code == "justification_required" else 409)
        flash(result.message, "success")
        return redirect(url_for(RESERVATIONS))


class ParentCreditsView(BaseView):
    """« Mes avoirs »: the balance and its movements."""

    route_base = "/famille/avoirs"
    default_view = "account"

    @expose("")
    @expose("/")
    @has_access
    @household_required
    def account(self, household):
        return self.render_template("parent/cancellation/account.html", account=credits.account(household.id))


def credit_summary() -> dict:
    """For the small block of « Accueil » and « Mes inscriptions »: the logged-in parent's credit."""
    household = household_for_user(g.user) if getattr(g, "user", None) is not None else None
    if household is None:
        return {"credit_cents": 0, "book_cents": 0}
    return {"credit_cents": credits.available_credit(household.id), "book_cents": credits.book_balance(household.id)}


def cancellation_terms(summary: dict) -> list[dict]:
    """For « Mon panier »: each line's published cancellation rule, read before paying."""
    return basket_terms(summary.get("lines") or [])


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentCancellationView())
    appbuilder.add_view_no_menu(ParentCreditsView())
    appbuilder.app.jinja_env.globals.setdefault("credit_summary", credit_summary)
    appbuilder.app.jinja_env.globals.setdefault("cancellation_terms", cancellation_terms)
