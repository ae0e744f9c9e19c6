"""Test data builders. They return plain namespaces of ids, never ORM objects, so tests need no
app context between requests (see conftest)."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone
from types import SimpleNamespace

from app.services.localize import paris_today

PASSWORD = "Motdepasse-solide-42"
# (QF from, QF to, price in cents): the three brackets of a typical commune.
DEFAULT_TARIFFS: tuple[tuple[int, int | None, int], ...] = ((0, 700, 4500), (701, 1200, 6000), (1201, None, 8000))
_seq = itertools.count(1)


def birth_date_for_age(age: int, on: date) -> date:
    """A birth date giving `age` full years on `on` (a few weeks past the birthday)."""
    return date(on.year - age, on.month, 1) - timedelta(days=40) if on.month > 2 else \
        date(on.year - age - 1, 12, 1)


class Factory:
    def __init__(self, app):
        self.app = app

    # --- accounts ------------------------------------------------------------------------
    def user(self, email: str | None = None, role: str = "Parent", first: str = "Camille", last: str = "Test"):
        email = email or f"user{next(_seq)}@example.test"
        with self.app.app_context():
            sm = self.app.appbuilder.sm
            user = sm.add_user(username=email, first_name=first, last_name=last, email=email,
                               role=sm.find_role(role), password=PASSWORD)
            assert user, f"could not create {email}"
            user_id = user.id
        return SimpleNamespace(id=user_id, email=email)

    def staff(self, email: str | None = None):
        return self.user(email or f"agent{next(_seq)}@example.test", role="Staff", first="Agnès", last="Agent")

    def admin(self, email: str | None = None):
        return self.user(email or f"admin{next(_seq)}@example.test", role="Admin", first="Alice", last="Admin")

    # --- families ------------------------------------------------------------------------
    def household(self, email: str | None = None, status: str = "validated", quotient: int | None = 650,
                  children: list[tuple[str, int]] | None = None, link_status: str | None = None,
                  age_on: date | None = None, last_name: str | None = None):
        """A Parent account with its household. `children` = [(first name, age in years at `age_on`)]."""
        from app.models import Child, Guardian, Household, HouseholdChild, db, utcnow

        n = next(_seq)
        last_name = last_name or f"Famille{n}"
        owner = self.user(email or f"parent{n}@example.test", first="Claire", last=last_name)
        age_on = age_on or default_period_start()
        link_status = link_status or ("validated" if status == "validated" else "pending")
        with self.app.app_context():
            household = Household(
                owner_id=owner.id, name=f"Foyer {last_name}", status=status, email=owner.email,
                phone="0612345678", address_line="1 place de la Mairie", postcode="83890",
                city="Besse-sur-Issole", caf_number="1234567", declared_quotient=quotient,
                quotient=quotient if status == "validated" else None,
                submitted_at=utcnow() if status != "draft" else None,
                validated_at=utcnow() if status == "validated" else None,
            )
            household.guardians.append(Guardian(first_name="Claire", last_name=last_name,
                                                relationship_label="Mère", phone="0612345678",
                                                email=owner.email))
            db.session.add(household)
            db.session.flush()
            child_ids = []
            for first, age in children or [("Léa", 8)]:
                child = Child(first_name=first, last_name=last_name, birth_date=birth_date_for_age(age, age_on),
                              vaccinations_up_to_date=True)
                db.session.add(child)
                db.session.flush()
                db.session.add(HouseholdChild(household_id=household.id, child_id=child.id, status=link_status))
                child_ids.append(child.id)
            db.session.commit()
            result = SimpleNamespace(id=household.id, user_id=owner.id, email=owner.email, child_ids=child_ids,
                                     last_name=last_name)
        return result

    def link_child(self, household_id: int, child_id: int, status: str = "validated") -> None:
        """Attach an existing child to another household (separated parents)."""
        from app.models import HouseholdChild, db

        with self.app.app_context():
            db.session.add(HouseholdChild(household_id=household_id, child_id=child_id, status=status,
                                          shared_request=True))
            db.session.commit()

    # --- catalogue -----------------------------------------------------------------------
    def catalog(self, age_min: int = 3, age_max: int = 11, capacities: tuple[int, ...] = (10, 10),
                seats: int = 5, opens_in: timedelta = -timedelta(days=1), closes_in: timedelta = timedelta(days=10),
                starts_on: date | None = None, bus_price_cents: int = 500,
                tariffs: tuple[tuple[int, int | None, int], ...] = DEFAULT_TARIFFS,
                stop_change_deadline_in: timedelta | None = timedelta(days=12), name: str | None = None):
        """An establishment with one period, its weeks, tariffs and a bus circuit with three stops."""
        from app.models import Circuit, Establishment, Period, Stop, TariffBracket, Week, db

        n = next(_seq)
        starts_on = starts_on or default_period_start()
        now = datetime.now(timezone.utc)
        with self.app.app_context():
            establishment = Establishment(name=name or f"ALSH Test {n}", kind="alsh", commune="Le Luc",
                                          age_min=age_min, age_max=age_max)
            period = Period(establishment=establishment, name=f"Vacances {n}", starts_on=starts_on,
                            ends_on=starts_on + timedelta(weeks=len(capacities) - 1, days=4),
                            opens_at=now + opens_in, closes_at=now + closes_in,
                            stop_change_deadline=(now + stop_change_deadline_in) if stop_change_deadline_in else None,
                            bus_price_cents=bus_price_cents)
            for i, capacity in enumerate(capacities):
                monday = starts_on + timedelta(weeks=i)
                period.weeks.append(Week(label=f"Semaine du {monday:%d/%m}", starts_on=monday,
                                         ends_on=monday + timedelta(days=4), capacity=capacity))
            for qf_min, qf_max, price in tariffs:
                period.tariffs.append(TariffBracket(label=f"QF {qf_min}+", qf_min=qf_min, qf_max=qf_max,
                                                    price_cents=price))
            circuit = Circuit(name=f"Circuit {n}", seats=seats)
            for position, (stop, hour) in enumerate([("Église", 7), ("Stade", 8), ("Gare", 9)], start=1):
                circuit.stops.append(Stop(name=f"{stop} {n}", position=position, pickup_time=time(hour, 30),
                                          dropoff_time=time(17, 60 - 10 * position)))
            period.circuits.append(circuit)
            db.session.add(establishment)
            db.session.commit()
            result = SimpleNamespace(
                establishment_id=establishment.id, period_id=period.id, week_ids=[w.id for w in period.weeks],
                circuit_id=circuit.id, stop_ids=[s.id for s in circuit.stops], starts_on=starts_on,
            )
        return result


def default_period_start() -> date:
    today = paris_today()
    return today + timedelta(days=21 + (7 - today.weekday()) % 7)
