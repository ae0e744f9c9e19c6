"""Demo data modelled on the Cœur du Var parents' guide, relative to today so the demo works any day.

Idempotent: everything is found by a natural key before being created, so a second run adds nothing.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app.models import (
    Child,
    Circuit,
    Establishment,
    Guardian,
    Household,
    HouseholdChild,
    HouseholdStatus,
    LinkStatus,
    Period,
    Stop,
    TariffBracket,
    Week,
    db,
    utcnow,
)
from app.roles import ADMIN, ANIMATOR, PARENT, STAFF
from app.services.localize import PARIS

DEMO_PASSWORD = "demo-portail"

ESTABLISHMENTS = [
    # name, commune, age_min, age_max
    ("ALSH Les Petits Loups", "Besse-sur-Issole", 3, 5),
    ("ALSH Les Explorateurs", "Le Luc", 6, 11),
    ("Espace Ados", "Carnoules", 12, 17),
]
TARIFFS = [("QF de 0 à 700 €", 0, 700, 4500), ("QF de 701 à 1 200 €", 701, 1200, 6000),
           ("QF au-delà de 1 200 € ou non communiqué", 1201, None, 8000)]
STOPS = [("Besse-sur-Issole — Place de l'Église", time(7, 45), time(18, 15)),
         ("Besse-sur-Issole — Stade", time(7, 52), time(18, 8)),
         ("Flassans-sur-Issole — Mairie", time(8, 5), time(17, 55)),
         ("Carnoules — Gare", time(8, 15), time(17, 45)),
         ("Le Luc — Collège", time(8, 30), time(17, 30))]


def _paris(day: date, hour: int = 8) -> datetime:
    return datetime.combine(day, time(hour, 0), PARIS)


def _monday_after(day: date, weeks: int) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7 or 7) + timedelta(weeks=weeks)


def _get_or_create(model, defaults: dict | None = None, **keys):
    obj = db.session.query(model).filter_by(**keys).one_or_none()
    if obj is None:
        obj = model(**keys, **(defaults or {}))
        db.session.add(obj)
        db.session.flush()
    return obj


def _period(establishment: Establishment, name: str, first_monday: date, n_weeks: int, opens: date,
            closes: date, capacities: list[int]) -> Period:
    period = _get_or_create(
        Period, establishment_id=establishment.id, name=name,
        defaults=dict(starts_on=first_monday, ends_on=first_monday + timedelta(weeks=n_weeks - 1, days=4),
                      opens_at=_paris(opens), closes_at=_paris(closes, 23),
                      stop_change_deadline=_paris(first_monday - timedelta(days=3), 12), bus_price_cents=500),
    )
    for i in range(n_weeks):
        monday = first_monday + timedelta(weeks=i)
        _get_or_create(Week, period_id=period.id, label=f"Semaine du {monday.day:02d}/{monday.month:02d}",
                       defaults=dict(starts_on=monday, ends_on=monday + timedelta(days=4), capacity=capacities[i]))
    for label, qf_min, qf_max, price in TARIFFS:
        _get_or_create(TariffBracket, period_id=period.id, qf_min=qf_min,
                       defaults=dict(label=label, qf_max=qf_max, price_cents=price,
                                     meal_share_cents=min(price, 1500)))  # issue 16: outside the tax attestation
    return period


def _wishes_period(establishment: Establishment, today: date, year: int) -> Period:
    """Issue 15: a period opened by wishes, its window open now (rank wishes at /famille/voeux/), closing
    in a week, results two days later; the leftover places open to ordinary booking after that. Its
    priority rules are set (and frozen, the window being open): staff run the dry run and publish at
    /attribution/ once the window has closed (or with `flask --app run allocate`)."""
    from app.models import AllocationRules, OpeningMode

    first_monday = _monday_after(today, 8)
    period = _period(establishment, f"Vacances d'hiver {year} — sur vœux", first_monday, 2,
                     opens=today + timedelta(days=10), closes=first_monday - timedelta(days=3), capacities=[10, 8])
    if period.opening_mode != OpeningMode.WISHES:
        period.opening_mode = OpeningMode.WISHES
        period.wishes_open_at = _paris(today - timedelta(days=1), 9)
        period.wishes_close_at = _paris(today + timedelta(days=7), 20)
        period.results_at = _paris(today + timedelta(days=9), 12)
        period.offer_hours = 72
        period.max_weeks_per_child = 2
    _circuit(period)
    _get_or_create(AllocationRules, period_id=period.id, defaults=dict(
        resident_points=10, resident_communes="Besse-sur-Issole\nFlassans-sur-Issole\nCarnoules\nLe Luc",
        working_points=20, sibling_points=5, no_previous_week_points=5, low_quotient_points=10,
        quotient_threshold=700,
        public_value_source="Les numéros du tirage du Loto du soir de la clôture des vœux (site de la FDJ)"))
    return period


def _circuit(period: Period) -> Circuit:
    circuit = _get_or_create(Circuit, period_id=period.id, name="Circuit 1 — Besse-sur-Issole",
                             defaults=dict(seats=12))
    for position, (name, pickup, dropoff) in enumerate(STOPS, start=1):
        _get_or_create(Stop, circuit_id=circuit.id, position=position,
                       defaults=dict(name=name, pickup_time=pickup, dropoff_time=dropoff))
    return circuit


def _user(sm, email: str, first: str, last: str, role_name: str):
    user = sm.find_user(email=email)
    if user is None:
        user = sm.add_user(username=email, first_name=first, last_name=last, email=email,
                           role=sm.find_role(role_name), password=DEMO_PASSWORD)
        if not user:
            raise RuntimeError(f"could not create demo user {email}")
    return user


def _household(owner, name: str, status: str, quotient: int | None, guardian: tuple[str, str, str]) -> Household:
    now = utcnow()
    household = _get_or_create(
        Household, owner_id=owner.id,
        defaults=dict(name=name, status=status, email=owner.email, phone="06 12 34 56 78",
                      address_line="12 rue de la République", postcode="83890", city="Besse-sur-Issole",
                      caf_number="1234567", declared_quotient=quotient,
                      quotient=quotient if status == "validated" else None,
                      submitted_at=now - timedelta(days=3),
                      validated_at=now - timedelta(days=1) if status == "validated" else None),
    )
    _get_or_create(Guardian, household_id=household.id, first_name=guardian[0], last_name=guardian[1],
                   defaults=dict(relationship_label=guardian[2], phone="06 12 34 56 78", email=owner.email))
    return household


def _child(household: Household, first: str, last: str, birth: date, link_status: str, **health) -> Child:
    child = db.session.query(Child).filter_by(first_name=first, last_name=last, birth_date=birth).one_or_none()
    if child is None:
        child = Child(first_name=first, last_name=last, birth_date=birth, vaccinations_up_to_date=True,
                      image_rights=True, **health)
        db.session.add(child)
        db.session.flush()
    _get_or_create(HouseholdChild, household_id=household.id, child_id=child.id,
                   defaults=dict(status=link_status, validated_at=utcnow() if link_status == "validated" else None))
    return child


def seed_demo(appbuilder, today: date | None = None) -> dict:
    """Create the demo catalogue, accounts and households. Returns what a person needs to log in."""
    today = today or datetime.now(PARIS).date()
    sm = appbuilder.sm

    establishments = [
        _get_or_create(Establishment, name=name, defaults=dict(kind="alsh", commune=commune, age_min=a, age_max=b,
                                                               address=f"École communale, {commune}"))
        for name, commune, a, b in ESTABLISHMENTS
    ]
    season_year = (today + timedelta(days=21)).year
    open_start = _monday_after(today, 2)
    for establishment in establishments:
        open_period = _period(establishment, f"Vacances — session ouverte {season_year}", open_start, 3,
                              opens=today - timedelta(days=2), closes=open_start - timedelta(days=3),
                              capacities=[16, 12, 8])
        _circuit(open_period)
        _period(establishment, f"Vacances d'été {season_year}", _monday_after(today, 16), 2,
                opens=today + timedelta(days=30), closes=today + timedelta(days=100), capacities=[24, 24])
        _period(establishment, f"Vacances passées {today.year}", _monday_after(today, 1), 1,
                opens=today - timedelta(days=40), closes=today - timedelta(days=1), capacities=[20])
    _wishes_period(establishments[0], today, season_year)
    # Issue 16: the identity printed on invoices, credit notes and attestations (Admin edits it).
    from app.models import Organiser

    _get_or_create(Organiser, id=1, defaults=dict(
        name="Communauté de communes Cœur du Var — Pôle Jeunesse", address="Quartier Précoumin\n83340 Le Luc",
        siret="24830039400019", regie_name="Régie enfance-jeunesse", regie_number="R-0042",
        contact="04 94 00 00 00 — jeunesse@demo.test"))

    _user(sm, "admin@demo.test", "Alice", "Admin", ADMIN)
    _user(sm, "agent@demo.test", "Agnès", "Agent", STAFF)
    # Issue 18: an animator of the first ALSH and of its buses (their week's lists at /animateur/).
    from app.models import AnimatorAssignment

    sm.find_role(ANIMATOR) or sm.add_role(ANIMATOR)
    animateur = _user(sm, "animateur@demo.test", "Anouk", "Animatrice", ANIMATOR)
    _get_or_create(AnimatorAssignment, user_id=animateur.id, establishment_id=establishments[0].id)
    for circuit in db.session.query(Circuit).join(Period).filter(Period.establishment_id == establishments[0].id):
        _get_or_create(AnimatorAssignment, user_id=animateur.id, circuit_id=circuit.id)
    parent = _user(sm, "parent@demo.test", "Claire", "Martin", PARENT)
    separe = _user(sm, "separe@demo.test", "Julien", "Martin", PARENT)
    nouveau = _user(sm, "nouveau@demo.test", "Samia", "Nouveau", PARENT)

    martin = _household(parent, "Foyer de Claire Martin", HouseholdStatus.VALIDATED, 650, ("Claire", "Martin", "Mère"))
    julien = _household(separe, "Foyer de Julien Martin", HouseholdStatus.VALIDATED, 1350, ("Julien", "Martin", "Père"))
    julien.separated_parents = martin.separated_parents = True
    martin.benefit_scheme = martin.benefit_scheme or "caf"  # issue 18: counted in the CAF's hours
    new = _household(nouveau, "Foyer de Samia Nouveau", HouseholdStatus.SUBMITTED, 900, ("Samia", "Nouveau", "Mère"))

    age_day = open_start
    lea = _child(martin, "Léa", "Martin", age_day.replace(year=age_day.year - 4) - timedelta(days=60), "validated",
                 allergies="Arachide", pai=True, pai_details="Trousse d'urgence dans le sac")
    hugo = _child(martin, "Hugo", "Martin", age_day.replace(year=age_day.year - 8) - timedelta(days=90), "validated")
    _child(julien, hugo.first_name, hugo.last_name, hugo.birth_date, "validated")
    ines = _child(new, "Inès", "Nouveau", age_day.replace(year=age_day.year - 7) - timedelta(days=30),
                  LinkStatus.PENDING, sex="F", school="École Jean Moulin", school_level="CE1", doctor_name="Dr Roux",
                  doctor_phone="04 94 00 00 00", health_updated_at=utcnow())
    # Issue 19: the authorisations families answer per child, and the insurance valid for a school year.
    from app.models import ConsentQuestion, DocumentType

    for position, (label, kind, on_bus) in enumerate((
            ("Mon enfant peut rentrer seul à la maison après l'accueil", "alsh", False),
            ("Mon enfant peut descendre seul à son arrêt de car", "all", True),
            ("J'autorise la baignade surveillée", "all", False),
            ("J'autorise une intervention médicale d'urgence", "all", False))):
        _get_or_create(ConsentQuestion, label=label, defaults=dict(establishment_kind=kind, on_bus_list=on_bus,
                                                                   position=position, active=True))
    _get_or_create(DocumentType, kind="insurance", defaults=dict(
        name="Attestation d'assurance responsabilité civile et extrascolaire", per_child=False, required_for="all",
        validity_rule="school_year", remind_days=30))
    db.session.commit()
    if not new.documents:  # a complete file, so that staff can validate it in the demo
        from app.services.household import documents

        for kind, child_id in (("qf_attestation", None), ("insurance", None), ("vaccinations", ines.id)):
            documents.add_document(new, kind, f"{kind}-demo.pdf", b"%PDF-1.4\n%demo\n%%EOF\n", child_id=child_id)
    return {
        "password": DEMO_PASSWORD,
        "accounts": ["admin@demo.test (Admin)", "agent@demo.test (Pôle Jeunesse)",
                     "parent@demo.test (foyer validé, Léa 4 ans et Hugo 8 ans)",
                     "separe@demo.test (autre foyer d'Hugo, parents séparés)",
                     "nouveau@demo.test (dossier envoyé, en attente de vérification)",
                     "animateur@demo.test (animatrice de l'ALSH Les Petits Loups et de son car)"],
        "lea_id": lea.id,
    }


def seed_waiting_list_demo(appbuilder, today: date | None = None) -> list[str]:
    """A full week with three families waiting, on top of `seed_demo` (run it first; idempotent):
    a one-week nature course of two places, both paid at the desk, then two families and Hugo Martin
    (parent@demo.test) on its list. Free a place (staff cancel one) and the first family gets the offer.
    Kept apart from `seed_demo` so that the base demo's households stay the three the guide describes."""
    today = today or datetime.now(PARIS).date()
    sm = appbuilder.sm
    establishment = db.session.query(Establishment).filter_by(name=ESTABLISHMENTS[1][0]).one()
    first_monday = _monday_after(today, 2)
    martin = db.session.query(Household).filter_by(email="parent@demo.test").one()
    hugo = db.session.query(Child).filter_by(first_name="Hugo", last_name="Martin").one()
    accounts = ["famille1@demo.test … famille4@demo.test (stage nature complet : deux inscrits, deux familles "
                "sur liste d'attente avant Hugo Martin)"]
    from app.models import WaitlistEntry
    from app.services import payments
    from app.services.booking import basket, waitlist
    from app.services.booking.capacity import week_usage

    period = _period(establishment, f"Stage nature {first_monday.year}", first_monday, 1,
                     opens=today - timedelta(days=2), closes=first_monday - timedelta(days=3), capacities=[2])
    week = db.session.query(Week).filter_by(period_id=period.id).one()
    if db.session.query(WaitlistEntry).filter_by(week_id=week.id).first() is not None:
        return accounts
    agent = sm.find_user(email="agent@demo.test")
    birth = first_monday.replace(year=first_monday.year - 9) - timedelta(days=45)
    families = []
    for n, (first, last) in enumerate([("Jules", "Garcia"), ("Emma", "Petit"), ("Nathan", "Roux"),
                                       ("Chloé", "Fabre")], start=1):
        owner = _user(sm, f"famille{n}@demo.test", "Parent", last, PARENT)
        household = _household(owner, f"Foyer {last}", HouseholdStatus.VALIDATED, 500 + 100 * n,
                               ("Parent", last, "Mère"))
        families.append((household, _child(household, first, last, birth, "validated")))
    db.session.commit()
    for household, child in families[:2]:
        if week_usage([week.id])[week.id] < week.capacity:
            line = basket.add_line(household.id, child.id, week.id, {"mode": "onsite"}, actor=agent, desk=True)
            payments.record_desk_payment(line.basket_id, "cash", actor=agent)
    for household, child in [*families[2:], (martin, hugo)]:
        waitlist.join(household.id, child.id, week.id, {"mode": "onsite"})
    return accounts
