"""The allocation's criteria read from the database (issue 15): working parents (every guardian with an
employer and as many accepted employer attestations as guardians), a child with no confirmed week in the
previous period of the same establishment, and a low family quotient. The pure rules are tested in
test_allocation_core; these pin the queries that feed them (run on PostgreSQL too with TEST_POSTGRES_URL)."""
from __future__ import annotations

import secrets
from datetime import timedelta

from tests.ops_data import reserve


def _guardian(household_id: int, employer: str | None):
    from app.models import Guardian

    return Guardian(household_id=household_id, first_name="Paul", last_name="Martin", relationship_label="Père",
                    employer=employer)


def _attestation(household_id: int, status: str):
    from app.models import Document, DocumentKind

    return Document(household_id=household_id, kind=DocumentKind.EMPLOYER_ATTESTATION, original_name="attestation.pdf",
                    storage_key=secrets.token_hex(16), content_type="application/pdf", size_bytes=100, status=status)


def test_working_parents_need_an_employer_and_an_accepted_attestation_each(app, factory):
    from app.models import Guardian, Household, db
    from app.services.booking.allocation_run import _facts
    from app.services.booking.priority import LOW_QUOTIENT, WORKING, Rules, household_criteria

    working, one_pending, no_employer, blank_employer, low = (factory.household() for _ in range(5))
    with app.app_context():
        # the factory's household has one guardian (Claire) without an employer
        for family in (working, one_pending, no_employer, blank_employer, low):
            db.session.get(Household, family.id).guardians[0].employer = "Mairie du Luc"
        db.session.add_all([_guardian(working.id, "Boulangerie Martin"), _attestation(working.id, "accepted"),
                            _attestation(working.id, "accepted")])
        db.session.add_all([_guardian(one_pending.id, "Garage"), _attestation(one_pending.id, "accepted"),
                            _attestation(one_pending.id, "pending"), _attestation(one_pending.id, "refused")])
        db.session.add_all([_guardian(no_employer.id, None), _attestation(no_employer.id, "accepted"),
                            _attestation(no_employer.id, "accepted")])
        db.session.add_all([_guardian(blank_employer.id, "   "), _attestation(blank_employer.id, "accepted"),
                            _attestation(blank_employer.id, "accepted")])
        db.session.add(_attestation(low.id, "accepted"))  # one guardian, one attestation: working
        db.session.get(Household, low.id).quotient = 420
        db.session.get(Household, working.id).quotient = 500  # at the threshold: not under it
        db.session.commit()
        ids = [working.id, one_pending.id, no_employer.id, blank_employer.id, low.id]
        facts = _facts(ids)
        assert (facts[working.id].guardians, facts[working.id].guardians_with_employer,
                facts[working.id].employer_attestations) == (2, 2, 2)
        assert (facts[one_pending.id].guardians, facts[one_pending.id].employer_attestations) == (2, 1)
        assert facts[no_employer.id].guardians_with_employer == 1
        assert facts[blank_employer.id].guardians_with_employer == 1  # spaces are no employer
        assert facts[low.id].quotient == 420 and facts[low.id].city == "Besse-sur-Issole"
        assert db.session.query(Guardian).filter(Guardian.household_id == low.id).count() == 1
        rules = Rules(working_points=20, low_quotient_points=5, quotient_threshold=500)
        criteria = {h: household_criteria(facts[h], rules) for h in ids}
        assert criteria == {working.id: [WORKING], one_pending.id: [], no_employer.id: [], blank_employer.id: [],
                            low.id: [WORKING, LOW_QUOTIENT]}


def test_no_previous_week_looks_at_confirmed_weeks_of_the_establishment_s_latest_previous_period(app, factory):
    from app.models import Period, Week, db
    from app.services.booking.allocation_run import _children_without_previous_week

    cat = factory.catalog()
    other = factory.catalog()  # another establishment: its weeks do not count
    family = factory.household(children=[("Anna", 8), ("Brice", 7), ("Chloé", 6), ("Dylan", 9), ("Emma", 5)])
    anna, brice, chloe, dylan, emma = family.child_ids
    with app.app_context():
        current = db.session.get(Period, cat.period_id)
        previous_ids = []
        for weeks_back, name in ((20, "Hiver"), (10, "Printemps")):  # Printemps is the latest previous one
            start = current.starts_on - timedelta(weeks=weeks_back)
            period = Period(establishment_id=current.establishment_id, name=name, starts_on=start,
                            ends_on=start + timedelta(days=4), opens_at=current.opens_at - timedelta(days=200),
                            closes_at=current.opens_at - timedelta(days=150), bus_price_cents=0)
            period.weeks.append(Week(label=f"{name} S1", starts_on=start, ends_on=start + timedelta(days=4),
                                     capacity=10))
            db.session.add(period)
            db.session.flush()
            previous_ids.append(period.weeks[0].id)
        db.session.commit()
    winter_week, spring_week = previous_ids
    reserve(app, family.id, anna, spring_week, status="confirmed")  # had a week: no points
    reserve(app, family.id, brice, spring_week, status="cancelled")  # cancelled: as if none
    reserve(app, family.id, chloe, winter_week, status="confirmed")  # an older period: does not count
    reserve(app, family.id, dylan, other.week_ids[0], status="confirmed")  # another establishment
    reserve(app, family.id, emma, cat.week_ids[0], status="confirmed")  # this period itself
    with app.app_context():
        current = db.session.get(Period, cat.period_id)
        assert _children_without_previous_week(current, set(family.child_ids)) == {brice, chloe, dylan, emma}
        assert _children_without_previous_week(current, set()) == set()
        # the establishment's first period has no previous one: nobody gets the points
        first = db.session.get(Period, other.period_id)
        assert _children_without_previous_week(first, set(family.child_ids)) == set()
