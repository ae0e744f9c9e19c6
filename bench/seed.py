"""The bench's own database: created on the given server, filled in bulk, dropped at the end.

Thousands of households are written with multi-row INSERTs (a few seconds), not through the
application's services (minutes): the rush measures booking, not sign-up. Every parent gets the
same password hash, computed once, so that seeding costs no hashing at all.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

PASSWORD = "Rush-ouverture-2026!"


@dataclass
class Plan:
    households: int
    children: int
    places: int
    weeks: int
    bus_seats: int
    shared_children: int = 0
    seed: int = 2026


@dataclass
class Seeded:
    accounts: list[str]  # e-mail (login) of every household, index = household number
    week_ids: list[int]
    circuit_id: int
    stop_ids: list[int]
    period_id: int
    capacities: dict[int, int] = field(default_factory=dict)


# --- database lifecycle --------------------------------------------------------------------------

def create_database(server_url: str) -> str:
    """CREATE DATABASE pf_bench_<random> on the server of `server_url`; returns its URL."""
    name = f"pf_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def build_schema(app) -> None:
    """Tables from the models (what the code runs against), then the roles as `flask sync-roles` does."""
    from app.models import db
    from app.security import sync_roles

    with app.app_context():
        db.create_all()
        sync_roles(app.appbuilder)
        db.session.remove()


# --- data ----------------------------------------------------------------------------------------

def _birth_date(age: int, on: date, rng: random.Random) -> date:
    """A birth date giving `age` full years on `on`."""
    anniversary = date(on.year - age, on.month, min(on.day, 28))
    return anniversary - timedelta(days=rng.randint(30, 300))


def seed(app, plan: Plan, password_hash: str) -> Seeded:
    from flask_appbuilder.security.sqla.models import User

    from app.models import (
        Child,
        Circuit,
        Establishment,
        Guardian,
        Household,
        HouseholdChild,
        Period,
        Stop,
        TariffBracket,
        Week,
        db,
    )

    rng = random.Random(plan.seed)
    now = datetime.now(timezone.utc)
    today = now.date()
    starts_on = today + timedelta(days=28 + (7 - today.weekday()) % 7)  # a Monday four weeks ahead

    with app.app_context():
        session = db.session
        parent_role = app.appbuilder.sm.find_role("Parent")

        # Catalogue: one ALSH, one period open since a minute ago, weeks sharing the places.
        establishment = Establishment(name="ALSH de la Rush", kind="alsh", commune="Le Luc", age_min=3,
                                      age_max=11, address="Chemin des Écoles")
        period = Period(establishment=establishment, name="Été (banc d'essai)", starts_on=starts_on,
                        ends_on=starts_on + timedelta(weeks=plan.weeks - 1, days=4),
                        opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=30),
                        stop_change_deadline=now + timedelta(days=20), bus_price_cents=500)
        per_week, extra = divmod(plan.places, plan.weeks)
        for i in range(plan.weeks):
            monday = starts_on + timedelta(weeks=i)
            period.weeks.append(Week(label=f"Semaine du {monday:%d/%m}", starts_on=monday,
                                     ends_on=monday + timedelta(days=4), capacity=per_week + (1 if i < extra else 0)))
        for qf_min, qf_max, price in ((0, 700, 4500), (701, 1200, 6000), (1201, None, 8000)):
            period.tariffs.append(TariffBracket(label=f"QF {qf_min}+", qf_min=qf_min, qf_max=qf_max,
                                                price_cents=price))
        circuit = Circuit(name="Circuit Nord", seats=plan.bus_seats)
        for position, (name, hour, minute) in enumerate(
                [("Mairie", 7, 30), ("Église", 7, 45), ("Stade", 8, 0), ("Gare", 8, 15)], start=1):
            circuit.stops.append(Stop(name=name, position=position, pickup_time=time(hour, minute),
                                      dropoff_time=time(17, 45 - 10 * position)))
        period.circuits.append(circuit)
        session.add(establishment)
        session.flush()
        seeded = Seeded(accounts=[], week_ids=[w.id for w in period.weeks], circuit_id=circuit.id,
                        stop_ids=[s.id for s in circuit.stops], period_id=period.id,
                        capacities={w.id: w.capacity for w in period.weeks})

        # Accounts: ab_user + ab_user_role, one multi-row INSERT each.
        emails = [f"parent{n:05d}@rush.test" for n in range(plan.households)]
        user_rows = [{"first_name": "Parent", "last_name": f"Rush{n:05d}", "username": email, "email": email,
                      "password": password_hash, "active": True, "login_count": 0, "fail_login_count": 0,
                      "created_on": now.replace(tzinfo=None), "changed_on": now.replace(tzinfo=None)}
                     for n, email in enumerate(emails)]
        user_table = User.__table__
        user_ids = session.execute(insert(user_table).returning(user_table.c.id, sort_by_parameter_order=True),
                                   user_rows).scalars().all()
        session.execute(insert(db.metadata.tables["ab_user_role"]),
                        [{"user_id": uid, "role_id": parent_role.id} for uid in user_ids])

        household_rows = [{"owner_id": uid, "name": f"Foyer Rush{n:05d}", "status": "validated", "email": emails[n],
                           "phone": "0612345678", "address_line": "1 place de la Mairie", "postcode": "83340",
                           "city": "Le Luc", "caf_number": f"{1000000 + n}", "no_caf_number": False,
                           "declared_quotient": q, "quotient": q, "separated_parents": False,
                           "submitted_at": now, "validated_at": now, "created_at": now, "updated_at": now}
                          for n, uid in enumerate(user_ids) for q in [rng.randint(300, 1600)]]
        htable = Household.__table__
        household_ids = session.execute(insert(htable).returning(htable.c.id, sort_by_parameter_order=True),
                                        household_rows).scalars().all()
        session.execute(insert(Guardian.__table__), [
            {"household_id": hid, "first_name": "Parent", "last_name": f"Rush{n:05d}", "relationship_label": "Mère",
             "phone": "0612345678", "email": emails[n]} for n, hid in enumerate(household_ids)])

        # Children: one per household, the rest spread one more each; all of an age the ALSH takes.
        owners = list(range(plan.households)) + [n % plan.households for n in range(plan.children - plan.households)]
        child_rows = [{"first_name": rng.choice(["Léa", "Hugo", "Inès", "Louis", "Jade", "Nathan", "Chloé", "Adam"]),
                       "last_name": f"Rush{owner:05d}", "birth_date": _birth_date(rng.randint(4, 10), starts_on, rng),
                       "pai": False, "vaccinations_up_to_date": True, "image_rights": True, "created_at": now}
                      for owner in owners]
        ctable = Child.__table__
        child_ids = session.execute(insert(ctable).returning(ctable.c.id, sort_by_parameter_order=True),
                                    child_rows).scalars().all()
        links = [{"household_id": household_ids[owner], "child_id": cid, "status": "validated",
                  "shared_request": False, "created_at": now, "validated_at": now}
                 for owner, cid in zip(owners, child_ids)]
        # Separated parents: some children also belong to a second household, which races the first.
        for cid, owner in rng.sample(list(zip(child_ids, owners)), min(plan.shared_children, len(child_ids))):
            other = (owner + 1 + rng.randrange(plan.households - 1)) % plan.households if plan.households > 1 else owner
            if other != owner:
                links.append({"household_id": household_ids[other], "child_id": cid, "status": "validated",
                              "shared_request": True, "created_at": now, "validated_at": now})
        session.execute(insert(HouseholdChild.__table__), links)
        session.commit()
        db.session.remove()
        seeded.accounts = emails
    return seeded


def analyse(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
