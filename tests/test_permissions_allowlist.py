"""Invariant 12, "Staff never become Admin": permissions are an allow-list and every view of
Flask-AppBuilder's security manager is Admin-only.

The checks below find FAB's security views by class (the module they come from, the classes the
security manager holds), never by name, so a view FAB adds in a future version is caught too. Every
registered view must have been classified (staff, parent, public or admin-only): a new view with
permissions and no decision fails here before anyone can be granted it by accident.
"""
from __future__ import annotations

import inspect
import re
import uuid
from types import SimpleNamespace

import pytest

from tests.support.clients import jwt_headers

PARENT_RESOURCE = re.compile(r"^(Parent[A-Za-z]*View|Portal[A-Za-z]*Api)$")


# --- helpers, written independently of app.security --------------------------------------------

def _security_manager_classes(sm) -> tuple[type, ...]:
    """Every view class the security manager holds (user/role/group views, password forms, the
    portal's own login and sign-up views plugged into it), whatever they are called."""
    from flask_appbuilder.baseviews import AbstractViewApi

    found = set()
    names = {name for klass in type(sm).__mro__ for name in vars(klass)} | set(vars(sm))
    for name in names:
        value = inspect.getattr_static(sm, name)
        if isinstance(value, type) and issubclass(value, AbstractViewApi):
            found.add(value)
        elif isinstance(value, AbstractViewApi):
            found.add(type(value))
    return tuple(found)


def _is_fab_security_view(view, sm) -> bool:
    cls = type(view)
    if any(klass.__module__.startswith("flask_appbuilder.security") for klass in cls.__mro__):
        return True
    return issubclass(cls, _security_manager_classes(sm))


def _views_by_resource(appbuilder) -> dict[str, list]:
    views: dict[str, list] = {}
    for view in appbuilder.baseviews:
        views.setdefault(view.class_permission_name, []).append(view)
    return views


def _role_pairs(sm, role_name: str) -> set[tuple[str, str]]:
    role = sm.find_role(role_name)
    return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def _security_menu_names(appbuilder, sm) -> set[str]:
    """Menu entries of security views, and the categories holding nothing else."""
    names = set()
    for item in appbuilder.menu.get_list():
        children = [child for child in item.childs if child.name != "-"]
        secure = [c for c in children if c.baseview is not None and _is_fab_security_view(c.baseview, sm)]
        names.update(c.name for c in secure)
        if children and len(secure) == len(children):
            names.add(item.name)
        if item.baseview is not None and _is_fab_security_view(item.baseview, sm):
            names.add(item.name)
    return names


# --- the matrix --------------------------------------------------------------------------------

def test_the_helpers_find_fab_security_views_by_class(app):
    """The test's own detector sees the views named in the issue, whatever their names."""
    with app.app_context():
        sm = app.appbuilder.sm
        secure = {type(v).__name__ for v in app.appbuilder.baseviews if _is_fab_security_view(v, sm)}
    assert {"ResetPasswordView", "ResetMyPasswordView", "UserInfoEditView", "UserGroupModelView",
            "UserDBModelView", "RoleModelView", "PermissionModelView", "RegisterUserModelView",
            "SecurityApi", "AuthDBView", "RegisterUserDBView"} <= secure
    assert not secure & {"DossierReviewView", "StaffDeskView", "ParentHomeView", "PortalApi"}


def test_staff_holds_nothing_on_any_fab_security_view_or_menu(app):
    with app.app_context():
        ab, sm = app.appbuilder, app.appbuilder.sm
        views = _views_by_resource(ab)
        security_resources = {name for name, vs in views.items() if any(_is_fab_security_view(v, sm) for v in vs)}
        security_resources |= _security_menu_names(ab, sm)
        staff = _role_pairs(sm, "Staff")
    assert "ResetPasswordView" in security_resources and "UserGroupModelView" in security_resources
    assert "Security" in security_resources and "List Groups" in security_resources
    leaked = sorted(pair for pair in staff if pair[1] in security_resources)
    assert leaked == []


def test_staff_holds_only_classified_staff_resources(app):
    """Walk every permission in the database: each one Staff holds is on a staff view or on a menu
    entry of the staff screens; none is on a parent view, an unknown view or a FAB view."""
    from app.security import STAFF, classify_view, resource_audiences

    with app.app_context():
        ab, sm = app.appbuilder, app.appbuilder.sm
        audiences = resource_audiences(ab)
        views = _views_by_resource(ab)
        all_pvs = [(pv.permission.name, pv.view_menu.name)
                   for pv in sm.session.query(sm.permissionview_model).all() if pv.permission and pv.view_menu]
        staff = _role_pairs(sm, "Staff")
        for permission, resource in staff:
            assert (permission, resource) in all_pvs
            assert STAFF in audiences.get(resource, set()), (permission, resource)
            for view in views.get(resource, []):
                assert classify_view(view, sm) == STAFF, (permission, resource)
                assert not _is_fab_security_view(view, sm)
                assert not PARENT_RESOURCE.match(resource)
        # The back office is really there (the rule is not vacuous).
        assert {("can_queue", "DossierReviewView"), ("can_index", "StaffDeskView"),
                ("can_add", "EstablishmentView"), ("menu_access", "Catalogue"),
                ("menu_access", "Listes de bus")} <= staff


def test_parent_holds_only_the_parent_area_and_api(app):
    with app.app_context():
        ab, sm = app.appbuilder, app.appbuilder.sm
        views = _views_by_resource(ab)
        parent = _role_pairs(sm, "Parent")
        for permission, resource in parent:
            assert PARENT_RESOURCE.match(resource), (permission, resource)
            assert permission != "menu_access", (permission, resource)
            for view in views[resource]:
                assert not _is_fab_security_view(view, sm), (permission, resource)
                assert type(view).__module__.startswith(("app.views.parent.", "app.api.")), (permission, resource)
        declared = {(p, name) for name, vs in views.items() if PARENT_RESOURCE.match(name)
                    for v in vs for p in (v.base_permissions or [])}
    assert parent == declared  # everything of the parent area, nothing else


ANIMATOR_RESOURCE = re.compile(r"^(AnimatorPagesView|Animator[A-Za-z]*Api)$")


def test_animator_holds_only_the_animator_pages_and_api(app):
    """Issue 18: the Animateur role holds the phone pages (app/views/animator/) and the sync API
    (Animator…Api), all of them and nothing else — no staff screen, no parent area, no menu — and
    neither Staff nor Parent hold any of them."""
    with app.app_context():
        ab, sm = app.appbuilder, app.appbuilder.sm
        views = _views_by_resource(ab)
        animator = _role_pairs(sm, "Animateur")
        for permission, resource in animator:
            assert ANIMATOR_RESOURCE.match(resource), (permission, resource)
            assert permission != "menu_access", (permission, resource)
            for view in views[resource]:
                assert not _is_fab_security_view(view, sm), (permission, resource)
                assert type(view).__module__.startswith(("app.views.animator.", "app.api.")), (permission, resource)
        declared = {(p, name) for name, vs in views.items() if ANIMATOR_RESOURCE.match(name)
                    for v in vs for p in (v.base_permissions or [])}
        others = _role_pairs(sm, "Staff") | _role_pairs(sm, "Parent")
    assert animator == declared
    assert ("can_sync", "AnimatorAttendanceApi") in animator and ("can_sheet", "AnimatorPagesView") in animator
    assert not {pair for pair in others if ANIMATOR_RESOURCE.match(pair[1])}


def test_every_registered_view_is_classified(app):
    """A view with permissions that no rule names fails here: someone must decide who gets it."""
    from app.security import ADMIN_ONLY, ANIMATOR, PARENT, PUBLIC, STAFF, classify_view

    with app.app_context():
        sm = app.appbuilder.sm
        classes = {type(view).__name__: classify_view(view, sm) for view in app.appbuilder.baseviews}
        unclassified = sorted(name for name, audience in classes.items() if audience is None)
        assert unclassified == []
        assert set(classes.values()) <= {ADMIN_ONLY, PUBLIC, STAFF, PARENT, ANIMATOR}
        for view in app.appbuilder.baseviews:
            if _is_fab_security_view(view, sm):
                assert classify_view(view, sm) in (ADMIN_ONLY,), type(view).__name__
            if view.base_permissions and classify_view(view, sm) == PUBLIC:
                pytest.fail(f"{type(view).__name__} declares permissions but is classified public")


def test_a_future_view_without_a_decision_is_unclassified_and_granted_to_no_one(app):
    """The classification test above can fail: a new FAB security view is Admin's by class, and a
    new portal view outside the staff and parent packages is left unclassified (Admin only)."""
    from flask_appbuilder import BaseView, expose, has_access

    from app.security import (
        ADMIN_ONLY,
        STAFF,
        classify_view,
        granted,
        resource_audiences,
    )

    def _index(self):
        return "x"

    body = {"route_base": "/x", "index": expose("/")(has_access(_index))}
    future_fab = type("FutureSecurityView", (BaseView,), dict(body, __module__="flask_appbuilder.security.future"))
    stray = type("ReportsView", (BaseView,), dict(body, __module__="app.views.reports"))
    staff_named_like_fab = type("UserGroupModelView", (BaseView,),
                                dict(body, __module__="app.views.staff.groups"))
    with app.app_context():
        sm = app.appbuilder.sm
        assert classify_view(future_fab(), sm) == ADMIN_ONLY
        assert classify_view(stray(), sm) is None
        # Names do not matter: a staff screen is a staff screen whatever it is called...
        impostor = staff_named_like_fab()
        assert classify_view(impostor, sm) == STAFF
        # ...but it cannot lend Staff the permissions of the FAB view whose name it borrows.
        with_impostor = SimpleNamespace(sm=sm, menu=app.appbuilder.menu,
                                        baseviews=list(app.appbuilder.baseviews) + [impostor])
        audiences = resource_audiences(with_impostor)
        assert audiences["UserGroupModelView"] == {ADMIN_ONLY}
        assert not granted(STAFF, "can_add", "UserGroupModelView", audiences)
        assert "List Groups" not in audiences or STAFF not in audiences["List Groups"]
    assert not granted(STAFF, "can_index", "FutureSecurityView", {"FutureSecurityView": {ADMIN_ONLY}})
    assert not granted(STAFF, "can_index", "ReportsView", {})


# --- the escalations of the issue --------------------------------------------------------------

def _admin_role_id(app) -> int:
    with app.app_context():
        role_id = app.appbuilder.sm.find_role("Admin").id
        app.appbuilder.sm.session.remove()
    return role_id


def test_staff_cannot_make_itself_admin_through_a_group(app, factory, make_client, login):
    agent = factory.staff()
    admin_role = _admin_role_id(app)
    client = login(make_client(), agent.email)
    name = f"escalade-{uuid.uuid4().hex[:8]}"
    try:
        assert client.get("/groups/add").status_code in (403, 404)
        response = client.post("/groups/add", data={"name": name, "label": name, "description": "",
                                                    "roles": [str(admin_role)], "users": [str(agent.id)]})
        assert response.status_code in (403, 404)
        assert client.get("/groups/list/").status_code in (403, 404)
        assert client.get("/users/list/").status_code == 403
        with app.app_context():
            sm = app.appbuilder.sm
            assert sm.session.query(sm.group_model).filter_by(name=name).first() is None
            sm.session.remove()
    finally:
        with app.app_context():
            sm = app.appbuilder.sm
            group = sm.session.query(sm.group_model).filter_by(name=name).first()
            if group is not None:
                group.users, group.roles = [], []
                sm.session.delete(group)
                sm.session.commit()
            sm.session.remove()


def _password_hash(app, user_id: int) -> str:
    with app.app_context():
        user = app.appbuilder.sm.get_user_by_id(user_id)
        value = user.password
        app.appbuilder.sm.session.remove()
    return value


def test_staff_cannot_reset_the_admin_password(app, factory, make_client, login):
    admin = factory.admin()
    agent = factory.staff()
    before = _password_hash(app, admin.id)
    client = login(make_client(), agent.email)
    assert client.get(f"/resetpassword/form?pk={admin.id}").status_code in (403, 404)
    response = client.post(f"/resetpassword/form?pk={admin.id}",
                           data={"password": "Pirate-Mot2passe!9", "conf_password": "Pirate-Mot2passe!9"})
    assert response.status_code in (403, 404)
    assert _password_hash(app, admin.id) == before
    # The admin's own password still opens the door, the attacker's does not.
    assert login(make_client(), admin.email).get("/users/list/").status_code == 200
    intruder = make_client().post("/login/", data={"username": admin.email, "password": "Pirate-Mot2passe!9"})
    assert intruder.status_code == 200  # the login form again, not a redirect into the portal


@pytest.mark.parametrize("role", ["staff", "parent"])
def test_fab_self_service_pages_are_admin_only(app, factory, make_client, login, role):
    """The portal's own password page (/compte/mot-de-passe) replaces FAB's profile and password
    forms: Staff and Parent get none of them (403), or at most a redirect to the portal's page."""
    user = factory.household() if role == "parent" else factory.staff()
    user_id = user.user_id if role == "parent" else user.id  # a household's id is not its login's id
    client = login(make_client(), user.email)
    before = _password_hash(app, user_id)
    for url in ["/resetmypassword/form", "/userinfoeditview/form", "/users/userinfo/", "/resetpassword/form"]:
        response = client.get(url)
        assert response.status_code == 403 or (
            response.status_code in (302, 303) and response.headers["Location"].endswith("/compte/mot-de-passe")
        ), (url, response.status_code)
    for url in ["/resetmypassword/form", f"/resetpassword/form?pk={user_id}", "/userinfoeditview/form"]:
        response = client.post(url, data={"password": "Autre-Mot2passe!9", "conf_password": "Autre-Mot2passe!9",
                                          "first_name": "Pirate", "last_name": "Pirate"})
        assert response.status_code in (302, 303, 403), (url, response.status_code)
        assert response.status_code == 403 or response.headers["Location"].endswith("/compte/mot-de-passe")
    assert _password_hash(app, user_id) == before
    admin = login(make_client(), factory.admin().email)
    assert admin.get("/users/userinfo/").status_code == 200


def test_staff_reads_the_api_documentation_but_not_the_security_api(app, factory, make_client):
    """The OpenAPI document stays readable by staff (the fault suite reads it with a staff token)."""
    agent = factory.staff()
    client = make_client()
    headers = jwt_headers(client, agent.email)
    assert client.get("/api/v1/_openapi", headers=headers).status_code == 200
    assert client.get("/api/v1/menu/", headers=headers).status_code in (401, 403)


# --- sync-roles --------------------------------------------------------------------------------

def test_sync_roles_removes_a_stale_grant(app):
    """A permission granted by hand (or by an older rule) is taken back at the next sync."""
    from app.security import sync_roles

    with app.app_context():
        sm = app.appbuilder.sm
        staff = sm.find_role("Staff")
        stale = [sm.find_permission_view_menu("can_list", "UserDBModelView"),
                 sm.find_permission_view_menu("can_this_form_post", "ResetPasswordView"),
                 sm.add_permission_view_menu("can_list", "RetiredView")]
        assert all(stale)
        staff.permissions = list(staff.permissions) + stale
        sm.session.commit()
        assert ("can_list", "UserDBModelView") in _role_pairs(sm, "Staff")
        counts = sync_roles(app.appbuilder)
        pairs = _role_pairs(sm, "Staff")
        assert not {("can_list", "UserDBModelView"), ("can_this_form_post", "ResetPasswordView"),
                    ("can_list", "RetiredView")} & pairs
        assert counts["Staff"] == len(pairs)
        # The view menu of a retired view is Admin's, like any unknown resource.
        assert ("can_list", "RetiredView") in _role_pairs(sm, "Admin")
        admin = sm.find_role("Admin")
        admin.permissions = [pv for pv in admin.permissions if pv.view_menu.name != "RetiredView"]
        sm.session.commit()
        sm.del_permission_view_menu("can_list", "RetiredView", cascade=True)
        sm.del_view_menu("RetiredView")
        assert sm.find_view_menu("RetiredView") is None
        sm.session.remove()


def test_sync_roles_command_prints_the_counts(app):
    from app.security import sync_roles

    with app.app_context():
        expected = sync_roles(app.appbuilder)
        app.appbuilder.sm.session.remove()
    result = app.test_cli_runner().invoke(args=["sync-roles"])
    assert result.exit_code == 0, result.output
    for role, count in expected.items():
        assert f"{role}: {count} permissions" in result.output


def test_sync_roles_reports_groups_that_give_the_admin_role(app, factory, caplog):
    """A group made while Staff could still edit groups keeps making its members Admin: the sync
    names it (and its members) at every deploy so that someone looks at it."""
    from app.security import sync_roles

    agent = factory.staff()
    name = f"ancien-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        sm = app.appbuilder.sm
        group = sm.group_model(name=name, label=name, roles=[sm.find_role("Admin")],
                               users=[sm.get_user_by_id(agent.id)])
        sm.session.add(group)
        sm.session.commit()
        try:
            with caplog.at_level("WARNING", logger="app.security"):
                sync_roles(app.appbuilder)
            assert any(name in r.getMessage() and agent.email in r.getMessage() for r in caplog.records)
        finally:
            group = sm.session.query(sm.group_model).filter_by(name=name).one()
            group.users, group.roles = [], []
            sm.session.delete(group)
            sm.session.commit()
            sm.session.remove()
