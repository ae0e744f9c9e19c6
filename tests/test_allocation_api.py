"""The wish campaign through the parent JSON API: GET/PUT a child's wishes, refusals as the pages give
them, isolation, the allocation result with its explanation, OpenAPI."""
from __future__ import annotations

import pytest

from tests.support.clients import jwt_headers
from tests.test_allocation_service import _campaign, _close_window

API = "/api/v1/portal"


@pytest.fixture
def api(app):
    def _api(email):
        client = app.test_client()
        return client, jwt_headers(client, email)

    return _api


def test_wishes_get_put_refusals_isolation_and_result(app, factory, api):
    from app.services.booking import allocation_run

    cat = _campaign(app, factory, capacities=(1, 1))
    family, other = factory.household(), factory.household()
    client, headers = api(family.email)
    url = f"{API}/children/{family.child_ids[0]}/wishes/{cat.period_id}"
    empty = client.get(url, headers=headers)
    assert empty.status_code == 200 and empty.get_json()["open"] is True and empty.get_json()["wishes"] == []
    body = {"wishes": [{"week_id": cat.week_ids[1], "transport": {"mode": "bus", "stop_id": cat.stop_ids[1]}},
                       {"week_id": cat.week_ids[0], "transport": {"mode": "onsite"}}]}
    saved = client.put(url, headers=headers, json=body)
    assert saved.status_code == 200, saved.get_json()
    assert [(w["rank"], w["week_id"], w["transport"]["mode"]) for w in saved.get_json()["wishes"]] == [
        (1, cat.week_ids[1], "bus"), (2, cat.week_ids[0], "onsite")]
    twice = client.put(url, headers=headers, json={"wishes": [body["wishes"][1], body["wishes"][1]]})
    assert twice.status_code == 400 and twice.get_json()["code"] == "duplicate_week"
    no_stop = client.put(url, headers=headers, json={"wishes": [{"week_id": cat.week_ids[0],
                                                                 "transport": {"mode": "bus"}}]})
    assert no_stop.status_code == 400 and no_stop.get_json()["code"] == "stop_required"
    assert client.put(url, headers=headers, json={"nope": 1}).status_code == 400
    # another household's child: 404, whatever the id
    foreign = client.get(f"{API}/children/{other.child_ids[0]}/wishes/{cat.period_id}", headers=headers)
    assert foreign.status_code == 404
    assert client.get(f"{API}/children/{family.child_ids[0]}/wishes/99999999999", headers=headers).status_code == 404
    before = client.get(f"{API}/allocation/{cat.period_id}", headers=headers)
    assert before.status_code == 200 and before.get_json()["published"] is False
    o_client, o_headers = api(other.email)
    o_client.put(f"{API}/children/{other.child_ids[0]}/wishes/{cat.period_id}", headers=o_headers,
                 json={"wishes": [{"week_id": cat.week_ids[1], "transport": {"mode": "onsite"}}]})
    _close_window(app, cat)
    closed = client.put(url, headers=headers, json=body)
    assert closed.status_code == 409 and closed.get_json()["code"] == "wishes_closed"
    with app.app_context():
        allocation_run.publish(cat.period_id, "42 17 3", actor=None)
    result = client.get(f"{API}/allocation/{cat.period_id}", headers=headers).get_json()
    assert result["published"] is True and result["draw_size"] == 2
    assert result["draw_text"] == f"{result['draw_rank']} sur 2"
    assert {w["outcome"] for w in result["wishes"]} <= {"given", "refused"} and len(result["wishes"]) == 2
    given = [w for w in result["wishes"] if w["outcome"] == "given"]
    assert given and all(w["entry_id"] for w in given)
    assert all(w["entry_status"] == "offered" and w["offer_expires_at"] for w in given)
    assert result["household_id"] == family.id
    # the given week is paid as a waiting-list offer
    pay = client.post(f"{API}/waitlist/{given[0]['entry_id']}/pay", headers=headers)
    assert pay.status_code == 200, pay.get_json()
    a_client, a_headers = api(factory.admin().email)
    spec = a_client.get("/api/v1/_openapi", headers=a_headers).get_json()
    assert f"{API}/children/{{child_id}}/wishes/{{period_id}}" in spec["paths"]
    assert "put" in spec["paths"][f"{API}/children/{{child_id}}/wishes/{{period_id}}"]
    assert f"{API}/allocation/{{period_id}}" in spec["paths"]
    assert {"PortalAllocation", "PortalWishes", "PortalWishesRequest"} <= set(spec["components"]["schemas"])


def test_cli_allocate_dry_run_then_publish(app, factory):
    from app.models import AllocationRun, db

    cat = _campaign(app, factory, capacities=(1, 1))
    family = factory.household()
    with app.app_context():
        from app.services.booking import wishes

        wishes.save_wishes(family.id, family.child_ids[0], cat.period_id,
                           [{"week_id": cat.week_ids[0], "transport": {"mode": "onsite"}}])
    runner = app.test_cli_runner()
    early = runner.invoke(args=["allocate", str(cat.period_id), "--dry-run"])
    assert early.exit_code != 0 and "pas encore clos" in early.output
    _close_window(app, cat)
    dry = runner.invoke(args=["allocate", str(cat.period_id), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Familles : 1 ; vœux : 1 ; semaines attribuées : 1 ;" in dry.output and "(100 %)" in dry.output
    with app.app_context():
        assert db.session.query(AllocationRun).count() == 0
    missing = runner.invoke(args=["allocate", str(cat.period_id)])
    assert missing.exit_code != 0 and "valeur publique" in missing.output
    done = runner.invoke(args=["allocate", str(cat.period_id), "--public-value", "7 12 25"])
    assert done.exit_code == 0, done.output
    with app.app_context():
        assert db.session.query(AllocationRun).one().public_value == "7 12 25"
