"""A small keep-alive HTTP client for the load generator.

The load generator shares the machine's cores with the server it measures, so every microsecond
it spends is stolen from the portal. `requests` costs several times more CPU per call than
`http.client`; this client keeps one persistent connection per simulated parent, a tiny cookie
jar (the sandbox payment page keeps its CSRF token in the session cookie) and nothing else.
"""
from __future__ import annotations

import http.client
import json as jsonlib
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit


class TransportError(Exception):
    """No HTTP answer at all (connection refused or reset, timeout)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float

    def json(self):
        try:
            return jsonlib.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    def __init__(self, host: str, port: int, timeout: float = 60.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, *, json=None, form: dict | None = None,
                headers: dict | None = None) -> Response:
        parts = urlsplit(path)
        if parts.scheme:  # an absolute URL from the server (payment_url): keep the path only
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        hdrs = {"Accept": "application/json" if form is None else "text/html"}
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if headers:
            hdrs.update(headers)
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                raw = self._conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                # A kept-alive connection the server closed while idle: the request never reached it.
                if reused and attempt == 1:
                    continue
                raise TransportError(f"{method} {path}: {exc.__class__.__name__}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
            elapsed_ms = (time.perf_counter() - started) * 1000
            response_headers = {k.lower(): v for k, v in raw.getheaders()}
            for name, value in raw.getheaders():
                if name.lower() == "set-cookie":
                    cookie = value.split(";", 1)[0]
                    if "=" in cookie:
                        key, val = cookie.split("=", 1)
                        self.cookies[key.strip()] = val.strip()
            if raw.will_close:
                self.close()
            return Response(raw.status, response_headers, data, elapsed_ms)
        raise TransportError(f"{method} {path}: unreachable")  # pragma: no cover

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw) -> Response:
        return self.request("DELETE", path, **kw)


# --- HTML forms (the sandbox payment page) ---------------------------------------------------

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    buttons: list[tuple[str | None, str | None, str]]  # (name, value, label)
    text: str


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._button: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = Form(a.get("action") or "", (a.get("method") or "get").lower(), {}, [], "")
        elif self._form is None:
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind == "submit":
                self._form.buttons.append((a.get("name"), a.get("value"), a.get("value") or ""))
            elif kind in ("checkbox", "radio"):
                if "checked" in a and a.get("name"):
                    self._form.fields[a["name"]] = a.get("value") or "on"
            elif kind != "file" and a.get("name"):
                self._form.fields[a["name"]] = a.get("value") or ""
        elif tag == "button":
            self._button = [a.get("name"), a.get("value"), ""]

    def handle_data(self, data):
        if self._form is not None:
            self._form.text += data
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None and self._form is not None:
            self._form.buttons.append((self._button[0], self._button[1], self._button[2].strip()))
            self._button = None
        elif tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_with_button(html: str, label: str) -> tuple[Form, dict[str, str]] | None:
    """The form holding a submit button whose label contains `label`, and the fields a browser
    would send when clicking it."""
    for form in parse_forms(html):
        for name, value, text in form.buttons:
            if label.lower() in (text or "").lower() or label.lower() in (value or "").lower():
                fields = dict(form.fields)
                if name:
                    fields[name] = value or ""
                return form, fields
    return None


def resolve(base_path: str, action: str) -> str:
    return urljoin(base_path, action) if action else base_path
