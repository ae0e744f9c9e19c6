"""One guard for every route: a NUL byte in a query, form or JSON value (or field name) is refused
with a French 400 before any view or service sees it.

PostgreSQL refuses NUL in text ("A string literal cannot contain NUL") with an error that became a
500 wherever a field was saved, while SQLite stored it and CSV exports, mails and logs then carried an
invisible character. No field of the portal has a use for it, so it is refused at the door, once,
instead of in each form.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template_string, request

MESSAGE = "Caractère non autorisé : un champ contient un caractère invisible (NUL). Retirez-le puis réessayez."
PARENT_PREFIXES = ("/famille", "/compte", "/payments/sandbox")
# The parent area's page, in its layout (the browser's back button keeps what was typed).
PARENT_PAGE = """{% extends "parent/base.html" %}
{% block title %}Caractère non autorisé{% endblock %}
{% block content %}
<h1>Caractère non autorisé</h1>
<div class="card" role="alert">
  <p>{{ message }}</p>
  <p class="hint">Rien n'a été enregistré. Avec le bouton « Retour » de votre navigateur, vous retrouvez ce que
  vous avez saisi.</p>
  <p><a class="btn btn-block" href="{{ back }}">Recommencer</a></p>
</div>
{% endblock %}"""


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


def _request_holds_nul() -> bool:
    for multidict in (request.args, request.form):
        for key, values in multidict.lists():
            if _holds_nul(key) or _holds_nul(values):
                return True
    if any(_holds_nul(f.filename or "") for f in request.files.values()):
        return True
    if request.is_json:
        return _holds_nul(request.get_json(silent=True))
    return False


def _refusal():
    if request.path.startswith("/api/") or request.is_json:
        return jsonify(message=MESSAGE), 400
    if request.path.startswith(PARENT_PREFIXES):
        back = request.path if request.method == "POST" and "\x00" not in request.path else "/famille/"
        return render_template_string(PARENT_PAGE, message=MESSAGE, back=back), 400
    return MESSAGE, 400, {"Content-Type": "text/plain; charset=utf-8"}


def register_input_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_bytes():
        return _refusal() if _request_holds_nul() else None
