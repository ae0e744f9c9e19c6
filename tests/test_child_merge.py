"""Merging two records of the same child (issue 19): bookings, links and documents follow the kept
record, the duplicate goes, the merge is audited; overlapping bookings refuse it, nothing changed."""
from __future__ import annotations

import pytest

from tests.credit_helpers import book_and_pay


@pytest.fixture
def twins(app, factory):
    """The same child typed in by each separated parent: two records, one booking on each side."""
    from app.models import Child, db

    cat = factory.catalog(capacities=(10, 10))
    mother = factory.household(last_name="Lemaire", children=[("Noé", 7)])
    father = factory.household(last_name="Lemaire", children=[("Noé", 7)])
    with app.app_context():
        father_child = db.session.get(Child, father.child_ids[0])
        father_child.doctor_name = "Dr Blanc"
        db.session.commit()
    return cat, mother, father


def test_merge_keeps_bookings_links_and_fills_blanks(app, factory, twins, login):
    from app.models import AuditLog, Child, HouseholdChild, Reservation, db

    cat, mother, father = twins
    keep, duplicate = mother.child_ids[0], father.child_ids[0]
    book_and_pay(app, mother.id, keep, cat.week_ids[0])
    book_and_pay(app, father.id, duplicate, cat.week_ids[1])
    staff = factory.staff()
    client = login(app.test_client(), staff.email)
    page = client.get(f"/dossiers-famille/{mother.id}").get_data(as_text=True)
    assert f'data-duplicate="{duplicate}"' in page  # same name and birth date: offered
    response = client.post(f"/dossiers-famille/{mother.id}/enfants/{keep}/fusionner",
                           data={"duplicate_id": str(duplicate)}, follow_redirects=True)
    assert "Fiches fusionnées" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Child, duplicate) is None
        child = db.session.get(Child, keep)
        assert child.doctor_name == "Dr Blanc"
        lines = db.session.query(Reservation).filter_by(child_id=keep, status="confirmed").all()
        assert sorted(line.household_id for line in lines) == sorted([mother.id, father.id])
        assert sorted(link.household_id for link in db.session.query(HouseholdChild).filter_by(child_id=keep)) \
            == sorted([mother.id, father.id])
        entries = db.session.query(AuditLog).filter_by(action="child.merged").all()
        assert {e.household_id for e in entries} == {mother.id, father.id}
        assert f'"duplicate_id": {duplicate}' in entries[0].before


def test_the_same_week_booked_on_both_records_refuses_the_merge(app, factory, twins):
    from app.models import Child, Reservation, db
    from app.services.errors import Conflict
    from app.services.household import child_merge

    cat, mother, father = twins
    keep, duplicate = mother.child_ids[0], father.child_ids[0]
    book_and_pay(app, mother.id, keep, cat.week_ids[0])
    book_and_pay(app, father.id, duplicate, cat.week_ids[0])
    with app.app_context():
        with pytest.raises(Conflict) as caught:
            child_merge.merge(keep, duplicate, None)
        assert caught.value.code == "overlap" and "reservation" in caught.value.message
        assert db.session.get(Child, duplicate) is not None
        assert db.session.query(Reservation).filter_by(child_id=duplicate).count() == 1


def test_merge_refusals_are_french_and_staff_only(app, factory, twins, login):
    cat, mother, father = twins
    keep = mother.child_ids[0]
    staff_client = login(app.test_client(), factory.staff().email)
    same = staff_client.post(f"/dossiers-famille/{mother.id}/enfants/{keep}/fusionner",
                             data={"duplicate_id": str(keep)}, follow_redirects=True)
    assert "deux fiches différentes" in same.get_data(as_text=True)
    garbage = staff_client.post(f"/dossiers-famille/{mother.id}/enfants/{keep}/fusionner",
                                data={"duplicate_id": "²"}, follow_redirects=True)
    assert "Indiquez le numéro" in garbage.get_data(as_text=True)
    missing = staff_client.post(f"/dossiers-famille/{mother.id}/enfants/{keep}/fusionner",
                                data={"duplicate_id": "999999"}, follow_redirects=True)
    assert "introuvable" in missing.get_data(as_text=True)
    parent = login(app.test_client(), mother.email)
    assert parent.post(f"/dossiers-famille/{mother.id}/enfants/{keep}/fusionner",
                       data={"duplicate_id": str(father.child_ids[0])}).status_code in (302, 403)
