"""Guards shared by every route: bad ids are 404, unknown FAB actions are 404, and the parent area's
errors are French pages in the portal's layout."""
from __future__ import annotations

from flask import Flask, abort, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

# Paths of the parent area, whose errors are shown in French in the portal's layout; staff screens
# keep Flask-AppBuilder's.
PARENT_PREFIXES = ("/famille", "/compte", "/payments/sandbox")


# Ids are INTEGER columns: PostgreSQL refuses values beyond 32 bits with an error (a 500), while
# Werkzeug's <int:…> converter accepts any number of digits. Such an id can only be "not found".
MAX_ID = 2**31 - 1


def register_hardening(app: Flask) -> None:
    def _parent_http_error(error):
        if not isinstance(error, HTTPException) or not request.path.startswith(PARENT_PREFIXES):
            return error
        return render_template("parent/http_error.html", code=error.code), error.code

    for code in (403, 404, 405, 500):
        app.register_error_handler(code, _parent_http_error)

    @app.before_request
    def _jwt_login_needs_its_provider():
        # FAB 5.3's login schema leaves "provider" optional but its view reads it (KeyError → 500).
        if request.endpoint == "SecurityApi.login" and request.is_json:
            body = request.get_json(silent=True)
            if isinstance(body, dict) and "provider" not in body:
                return jsonify(message={"provider": ["Champ obligatoire : « db »."]}), 400
        return None

    @app.before_request
    def _ids_beyond_the_database_are_404():
        for name, value in (request.view_args or {}).items():
            if isinstance(value, str) and (name == "pk" or name.endswith("_id")):
                # FAB's routes take the primary key as a string: only a number the database can hold
                # may reach it.
                if not value.isdigit() or int(value) > MAX_ID:
                    abort(404)
            elif isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
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
