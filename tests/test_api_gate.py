"""The parent API's light gate (app/api/gate.py): FAB's answer without FAB's per-request queries,
and no stale window: a role, permission or membership change applies to the very next request."""
from __future__ import annotations

import pytest

from app.api.common import PortalBaseApi
from app.services.security_version import permissions_version
from tests.booking_helpers import count_queries
from tests.support.clients import jwt_headers

CHILDREN = "/api/v1/portal/children"


@pytest.fixture
def parent(app, factory):
    family = factory.household()
    client = app.test_client()
    headers = jwt_headers(client, family.email)
    assert client.get(CHILDREN, headers=headers).status_code == 200  # the gate's cache is warm
    return family, client, headers


@pytest.fixture
def resync(app):
    """Whatever a test did to the roles (kept between tests), `flask sync-roles` puts it back."""
    yield
    from app.models import db
    from app.security import sync_roles

    with app.app_context():
        db.session.rollback()
        sync_roles(app.appbuilder)


def _user(app, email):
    sm = app.appbuilder.sm
    return sm.session.query(sm.user_model).filter_by(email=email).one()


def _version(app):
    with app.app_context():
        return permissions_version()


def test_every_parent_api_endpoint_goes_through_the_gate(app):
    apis = [view for view in app.appbuilder.baseviews if isinstance(view, PortalBaseApi)]
    assert len(apis) >= 4
    for view in apis:
        endpoints = [getattr(type(view), name) for name in dir(type(view))
                     if getattr(getattr(type(view), name), "_urls", None)
                     and getattr(getattr(type(view), name), "_permission_name", None)]
        assert endpoints, type(view).__name__
        for endpoint in endpoints:
            assert getattr(endpoint, "_light_gate", False), f"{type(view).__name__}.{endpoint.__name__}"


def test_a_warm_request_reads_no_permission_table(app, parent):
    _family, client, headers = parent
    with count_queries(app) as seen:
        assert client.get(CHILDREN, headers=headers).status_code == 200
    assert seen
    assert not [sql for sql in seen if "ab_permission" in sql or "ab_view_menu" in sql], seen


def test_who_asks_is_read_in_one_statement_per_request(app, parent):
    """The JWT's stamp check, the gate's roles and version and the household's scoping share one read
    (household.identity): a second request reads it again (nothing kept past a request)."""
    _family, client, headers = parent
    with count_queries(app) as seen:
        for _ in range(2):
            assert client.get(CHILDREN, headers=headers).status_code == 200
    users = [sql for sql in seen if "FROM ab_user" in sql]
    assert len(users) == 2, seen
    assert all("auth_stamp" in sql and "security_version" in sql and "ab_user_role" in sql and "household" in sql
               for sql in users), users
    assert not [sql for sql in seen if sql.lstrip().startswith("SELECT household.") and "ab_user" not in sql], seen


def test_a_revoked_role_is_refused_on_the_next_request(app, parent, resync):
    family, client, headers = parent
    with app.app_context():
        sm = app.appbuilder.sm
        user = _user(app, family.email)
        parent_role = sm.find_role("Parent")
        before = permissions_version()
        user.roles = []
        sm.session.commit()
        assert permissions_version() == before + 1
    assert client.get(CHILDREN, headers=headers).status_code == 403
    with app.app_context():  # given back through a group: the gate reads groups' roles too
        group = sm.group_model(name="Parents du test", label="Parents du test")
        sm.session.add(group)
        group.roles = [sm.find_role("Parent")]
        group.users = [_user(app, family.email)]
        sm.session.commit()
    assert client.get(CHILDREN, headers=headers).status_code == 200
    with app.app_context():
        sm.session.delete(sm.session.query(sm.group_model).filter_by(name="Parents du test").one())
        user = _user(app, family.email)
        user.roles = [parent_role]
        sm.session.commit()
    assert client.get(CHILDREN, headers=headers).status_code == 200


def test_a_revoked_permission_is_refused_at_once_and_sync_roles_gives_it_back(app, parent, resync):
    _family, client, headers = parent
    from app.security import sync_roles

    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Parent")
        role.permissions = [pv for pv in role.permissions
                            if not (pv.permission.name == "can_children" and pv.view_menu.name == "PortalApi")]
        sm.session.commit()
    assert client.get(CHILDREN, headers=headers).status_code == 403
    assert client.get("/api/v1/portal/basket", headers=headers).status_code == 200  # only that one
    with app.app_context():
        before = permissions_version()
        sync_roles(app.appbuilder)
        assert permissions_version() > before
    assert client.get(CHILDREN, headers=headers).status_code == 200


def test_a_deactivated_account_is_refused(app, parent, resync):
    family, client, headers = parent
    with app.app_context():
        _user(app, family.email).active = False
        app.appbuilder.sm.session.commit()
    assert client.get(CHILDREN, headers=headers).status_code == 401


def test_a_token_issued_before_a_password_change_is_refused(app, parent):
    family, client, headers = parent
    from app.models import db
    from app.services.household.accounts import bump_auth_stamp

    with app.app_context():
        bump_auth_stamp(_user(app, family.email).id)
        db.session.commit()
    response = client.get(CHILDREN, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "session_ended"


def test_ordinary_writes_do_not_move_the_version(app, factory):
    before = _version(app)
    factory.household()  # a new account, its household, guardian and child
    factory.staff()
    assert _version(app) == before


def test_staff_and_anonymous_are_refused_as_before(app, factory):
    client = app.test_client()
    assert client.get(CHILDREN).status_code == 401
    assert client.get(CHILDREN, headers={"Authorization": "Bearer garbage"}).status_code in (401, 422)
    staff_headers = jwt_headers(client, factory.staff().email)
    assert client.get(CHILDREN, headers=staff_headers).status_code == 403


def test_a_token_is_verified_once_and_never_past_its_expiry(app, factory, monkeypatch):
    """The signature is checked on the token's first request only; its expiry is checked on every
    one (a cached token past its `exp` is refused), and a token altered by one character is not the
    cached one."""
    import time
    from datetime import timedelta

    import flask_jwt_extended.jwt_manager as jwt_manager_module
    from flask_jwt_extended import create_access_token

    from app.services.household.accounts import auth_stamp
    from app.views.account import JWT_STAMP_CLAIM

    family = factory.household()
    client = app.test_client()
    with app.app_context():
        user_id = _user(app, family.email).id
        token = create_access_token(str(user_id), expires_delta=timedelta(seconds=2),
                                    additional_claims={JWT_STAMP_CLAIM: auth_stamp(user_id)})
    verified = []
    real = jwt_manager_module._decode_jwt
    monkeypatch.setattr(jwt_manager_module, "_decode_jwt", lambda **kw: verified.append(1) or real(**kw))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(CHILDREN, headers=headers).status_code == 200
    assert client.get(CHILDREN, headers=headers).status_code == 200
    assert len(verified) == 1
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert client.get(CHILDREN, headers={"Authorization": f"Bearer {forged}"}).status_code in (401, 422)
    time.sleep(2.2)
    assert client.get(CHILDREN, headers=headers).status_code == 401
