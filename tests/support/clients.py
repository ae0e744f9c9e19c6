"""Logging a test client in, through the same doors a browser or an API client uses."""
from __future__ import annotations

from tests.support.factories import PASSWORD


def login(client, email: str, password: str = PASSWORD):
    """Form login on /login/; returns the client, now carrying the session cookie."""
    response = client.post("/login/", data={"username": email, "password": password}, follow_redirects=False)
    assert response.status_code in (302, 303), f"login failed for {email}: {response.status_code}"
    return client


def jwt_headers(client, email: str, password: str | None = None) -> dict:
    """The Authorization header of a JWT from the API login."""
    response = client.post("/api/v1/security/login",
                           json={"username": email, "password": password or PASSWORD, "provider": "db"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
