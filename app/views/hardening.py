"""Small guards around Flask-AppBuilder routes that would otherwise answer 500 to bad input."""
from __future__ import annotations

from flask import Flask, abort, current_app, request


# Ids are INTEGER columns: PostgreSQL refuses values beyond 32 bits with an error (a 500), while
# Werkzeug's <int:…> converter accepts any number of digits. Such an id can only be "not found".
MAX_ID = 2**31 - 1


def register_hardening(app: Flask) -> None:
    @app.before_request
    def _ids_beyond_the_database_are_404():
        if request.view_args and any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_ID
                                     for v in request.view_args.values()):
            abort(404)
        return None

    @app.before_request
    def _unknown_action_is_404():
        # FAB's ModelView.action(<name>, <pk>) crashes (AttributeError) on an unknown action name.
        endpoint = request.endpoint or ""
        if not endpoint.endswith(".action") or not request.view_args:
            return None
        view_name = endpoint.rsplit(".", 1)[0]
        view = next((v for v in current_app.appbuilder.baseviews if v.endpoint == view_name), None)
        if view is not None and request.view_args.get("name") not in getattr(view, "actions", {}):
            abort(404)
        return None
