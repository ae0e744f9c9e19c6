"""What every HTML view would otherwise write by hand: parsing an id typed by a person, turning a
service's refusal into a French message on the page, and finding the logged-in parent's household.

Views stay thin (parse → call a service → render or redirect) because the three recurring
prologues and epilogues live here once, with one behaviour: a 404 from a service stays a 404
(isolation, DESIGN.md §3.6), any other refusal is flashed in the service's own French words.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import lazy_gettext

from app.models import db
from app.models.types import parse_id  # noqa: F401 (re-exported: the one id parser)
from app.services.errors import ServiceError
from app.services.household.links import household_for_user

NO_HOUSEHOLD = lazy_gettext("Aucun dossier famille n'est associé à ce compte : complétez d'abord votre dossier.")
PARENT_HOME = "ParentHomeView.index"

# ASCII only: str.isdigit() and "\d" also accept "٣" or "²", and int("²") raises (a 500).
def _endpoint_url(endpoint: str, view_args: dict) -> str:
    """url_for(endpoint) with the view's own URL values that the target rule takes (an unused value
    would otherwise become a query argument)."""
    full = f"{request.blueprint}{endpoint}" if endpoint.startswith(".") else endpoint
    wanted: set[str] = set()
    for rule in current_app.url_map.iter_rules(full):
        wanted |= set(rule.arguments)
    return url_for(endpoint, **{name: value for name, value in view_args.items() if name in wanted})


def service_errors(redirect_to: str | Callable[..., str] | None = None, *, category: str = "danger",
                   not_found: Callable[[ServiceError], Any] | bool = True):
    """Turn a ServiceError raised by the view into the service's French message and a redirect.

    `redirect_to` is an endpoint (".show", "ParentBasketView.basket", filled with the view's URL
    values), a callable taking the view's URL values and returning a URL, or None for the page that
    was posted to (a form page answering GET too); a GET that fails without `redirect_to` goes to
    the site's index, never to itself in a loop. A 404 refusal is not a message but a 404 (another
    household's id must look like no id at all), or what `not_found(exc)` returns; with
    `not_found=False` it is told like any other refusal (a staff form whose line vanished). The
    session is rolled back first: a refused change leaves nothing half-done behind the redirect."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except ServiceError as exc:
                db.session.rollback()
                if exc.http_status == 404 and not_found is not False:
                    if callable(not_found):
                        return not_found(exc)
                    abort(404)
                flash(exc.message, category)
                if redirect_to is None:
                    target = (current_app.appbuilder.get_url_for_index if request.method == "GET"
                              else request.full_path if request.query_string else request.path)
                elif callable(redirect_to):
                    target = redirect_to(**kwargs)
                else:
                    target = _endpoint_url(redirect_to, kwargs)
                return redirect(target)

        return wrapper

    return decorate


def household_required(view=None, *, otherwise: Callable[[], Any] | None = None):
    """Give the view the logged-in parent's household as its first argument after `self`.

    Without a household (an account whose file was never created) the parent is sent to the home
    page, which says what to do, with a warning; `otherwise()` replaces that answer where a 404 is
    due (a receipt, a file page). Put it under @has_access: permissions are checked first."""

    def decorate(func):
        @wraps(func)
        def wrapper(self, *args, **kwargs):
            household = household_for_user(g.user)
            if household is None:
                if otherwise is not None:
                    return otherwise()
                flash(str(NO_HOUSEHOLD), "warning")
                return redirect(url_for(PARENT_HOME))
            return func(self, household, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
