"""A worked example for attendance, boarding and the CAF export (issue 18).

The week of Monday 11 May 2026 (Thursday 14 is Ascension Day, a public holiday), an ALSH open
8:30–17:30 (540 minutes), three children booked on the week:
- Inès, 4, household on the CAF scheme, QF 650 (bracket 0–700), on the bus at the first stop;
- Tom, 8, household on the MSA scheme, QF 900 (bracket 701–1200), on site;
- Zoé, 8, household without a scheme, on the bus at the second stop.
A second establishment with its own child is the one the animator must never see.
"""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from tests import ops_data

MONDAY = date(2026, 5, 11)
ASCENSION = date(2026, 5, 14)


def set_household(app, household_id: int, **values) -> None:
    from app.models import Household, db

    with app.app_context():
        household = db.session.get(Household, household_id)
        for key, value in values.items():
            setattr(household, key, value)
        db.session.commit()


def assign(app, user_id: int, *, establishment_id: int | None = None, circuit_id: int | None = None) -> None:
    from app.models import AnimatorAssignment, db

    with app.app_context():
        db.session.add(AnimatorAssignment(user_id=user_id, establishment_id=establishment_id, circuit_id=circuit_id))
        db.session.commit()


def build(app, factory, monday: date = MONDAY) -> SimpleNamespace:
    cat = factory.catalog(starts_on=monday, capacities=(10,), name="ALSH Les Pins")
    other = factory.catalog(starts_on=monday, capacities=(10,), name="ALSH Autre")
    ines = factory.household(last_name="Martin", children=[("Inès", 4)], age_on=monday, quotient=650)
    tom = factory.household(last_name="Bernard", children=[("Tom", 8)], age_on=monday, quotient=900)
    zoe = factory.household(last_name="Petit", children=[("Zoé", 8)], age_on=monday, quotient=None)
    stranger = factory.household(last_name="Ailleurs", children=[("Max", 7)], age_on=monday)
    set_household(app, ines.id, benefit_scheme="caf", caf_number="7654321")
    set_household(app, tom.id, benefit_scheme="msa", caf_number="MSA-1")
    week = cat.week_ids[0]
    r_ines, _ = ops_data.reserve(app, ines.id, ines.child_ids[0], week, stop_id=cat.stop_ids[0],
                                 circuit_id=cat.circuit_id, price_cents=4500)
    r_tom, _ = ops_data.reserve(app, tom.id, tom.child_ids[0], week, price_cents=6000)
    r_zoe, _ = ops_data.reserve(app, zoe.id, zoe.child_ids[0], week, stop_id=cat.stop_ids[1],
                                circuit_id=cat.circuit_id, price_cents=8000)
    ops_data.reserve(app, stranger.id, stranger.child_ids[0], other.week_ids[0])
    animator = factory.user(role="Animateur", first="Anouk", last="Animatrice")
    assign(app, animator.id, establishment_id=cat.establishment_id)
    driver = factory.user(role="Animateur", first="Dany", last="Chauffeur")
    assign(app, driver.id, circuit_id=cat.circuit_id)
    return SimpleNamespace(cat=cat, other=other, monday=monday, ines=ines.child_ids[0], tom=tom.child_ids[0],
                           zoe=zoe.child_ids[0], max=stranger.child_ids[0], ines_household=ines,
                           animator=animator, driver=driver, r_ines=r_ines, r_tom=r_tom, r_zoe=r_zoe)


def tick(s, child_id: int, day: date, status: str = "present", *, client_id: str, at: str = "2026-05-11T09:00:00+02:00",
         establishment_id: int | None = None, **extra) -> dict:
    return dict(kind="attendance", client_id=client_id, establishment_id=establishment_id or s.cat.establishment_id,
                child_id=child_id, day=day.isoformat(), status=status, ticked_at=at, **extra)
