"""Running a wish campaign's allocation on the database: dry run, publication (screen and CLI alike).

Why the dry run and the publication share `compute()`: what staff review must be what is published,
given the same public value. Publication happens once per period, in one transaction with the weeks
locked (`capacity.lock_weeks`): the places counted are the places given.

Publishing turns each given wish into a waiting-list offer (`waitlist_offers.create_offer`: a held
place in a basket of its own, with the period's `offer_hours`), puts every wish refused for want of
room on the waiting list in allocation order, mails each family its result, and audits the run with
the public value, the seed and the rules as applied. Explanations are read from the stored run, so
they never change afterwards.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import (
    AllocationRun,
    Circuit,
    Document,
    DocumentKind,
    Guardian,
    Household,
    HouseholdChild,
    OpeningMode,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    WaitlistEntry,
    WaitlistStatus,
    Week,
    Wish,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking import allocation as core
from app.services.booking.capacity import circuit_usage, live_condition, lock_weeks, week_usage
from app.services.booking.draw import draw_ranks, draw_seed
from app.services.booking.eligibility import CHILD_NOT_VALIDATED, Reason, paris_today, period_reason, week_reason
from app.services.booking.priority import (
    NO_PREVIOUS_WEEK,
    HouseholdFacts,
    Rules,
    household_criteria,
)
from app.services.booking.waitlist_offers import create_offer, offer_deadline, offer_freed_places
from app.services.booking.wishes import period_rules, public_value_source, wishes_period
from app.services.errors import Conflict, ValidationFailed
from app.services.transactions import unit_of_work

TRIAL_VALUE = "essai"


@dataclass
class Computation:
    period: Period
    rules: Rules
    public_value: str
    seed: str
    households: dict[int, dict]  # id → {points, criteria, rank, city, name}
    child_criteria: dict[int, list[str]]
    draw_size: int
    outcomes: list[core.WishOut]
    wishes: dict[int, Wish]
    weeks: dict[int, Week]
    places: dict[int, int]
    blocked: dict[int, str] = field(default_factory=dict)  # wish id → the booking rule's French message

    def as_json(self) -> str:
        return json.dumps({"public_value": self.public_value, "seed": self.seed, "draw_size": self.draw_size,
                           "households": {str(k): v for k, v in sorted(self.households.items())},
                           "children": {str(k): v for k, v in sorted(self.child_criteria.items())},
                           "blocked": {str(k): v for k, v in sorted(self.blocked.items())},
                           "wishes": [asdict(o) for o in self.outcomes]},
                          sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _facts(household_ids: list[int]) -> dict[int, HouseholdFacts]:
    households = {h.id: h for h in db.session.execute(select(Household).where(Household.id.in_(household_ids)))
                  .scalars()}
    guardians = dict(db.session.execute(select(Guardian.household_id, func.count()).where(
        Guardian.household_id.in_(household_ids)).group_by(Guardian.household_id)).all())
    employed = dict(db.session.execute(select(Guardian.household_id, func.count()).where(
        Guardian.household_id.in_(household_ids), func.length(func.trim(func.coalesce(Guardian.employer, ""))) > 0)
        .group_by(Guardian.household_id)).all())
    attestations = dict(db.session.execute(select(Document.household_id, func.count()).where(
        Document.household_id.in_(household_ids), Document.kind == DocumentKind.EMPLOYER_ATTESTATION,
        Document.status == "accepted").group_by(Document.household_id)).all())
    return {h: HouseholdFacts(h, households[h].city, employed.get(h, 0), guardians.get(h, 0),
                              attestations.get(h, 0), households[h].quotient) for h in household_ids}


def _children_without_previous_week(period: Period, child_ids: set[int]) -> set[int]:
    previous = db.session.execute(
        select(Period.id).where(Period.establishment_id == period.establishment_id,
                                Period.starts_on < period.starts_on)
        .order_by(Period.starts_on.desc(), Period.id.desc()).limit(1)).scalar()
    if previous is None or not child_ids:
        return set()
    had = set(db.session.execute(
        select(Reservation.child_id).join(Week, Week.id == Reservation.week_id)
        .where(Week.period_id == previous, Reservation.status == ReservationStatus.CONFIRMED,
               Reservation.child_id.in_(child_ids))).scalars())
    return child_ids - had


def compute(period: Period, public_value: str, now: datetime) -> Computation:
    """Gather the wishes, the criteria, the room left and the draw, and run the pure allocation."""
    rules = period_rules(period.id)
    wishes = {w.id: w for w in db.session.execute(select(Wish).where(Wish.period_id == period.id)).scalars()}
    weeks = {w.id: w for w in db.session.execute(select(Week).where(Week.period_id == period.id)).scalars()}
    circuits = {c.id: c for c in db.session.execute(select(Circuit).where(Circuit.period_id == period.id)).scalars()}
    stop_circuit = dict(db.session.execute(
        select(Stop.id, Stop.circuit_id).where(Stop.circuit_id.in_(list(circuits) or [0]))).all())
    used = week_usage(list(weeks), now)
    places = {w.id: max(0, w.capacity - used.get(w.id, 0)) for w in weeks.values()}
    pairs = [(c, w) for c in circuits for w in weeks]
    seats_used = circuit_usage(pairs, now) if pairs else {}
    seats = {(c, w): max(0, circuits[c].seats - seats_used.get((c, w), 0)) for c, w in pairs}
    household_ids = sorted({w.household_id for w in wishes.values()})
    facts = _facts(household_ids)
    seed = draw_seed(public_value, wishes)
    ranks = draw_ranks(seed, household_ids)
    households: dict[int, dict] = {}
    for household_id in household_ids:
        criteria = household_criteria(facts[household_id], rules)
        households[household_id] = {"points": sum(rules.points_of(c) for c in criteria), "criteria": criteria,
                                    "rank": ranks[household_id], "city": facts[household_id].city or ""}
    child_ids = {w.child_id for w in wishes.values()}
    no_previous = _children_without_previous_week(period, child_ids)
    child_criteria = {c: ([NO_PREVIOUS_WEEK] if c in no_previous else []) for c in sorted(child_ids)}
    booked = set(db.session.execute(
        select(Reservation.child_id, Reservation.week_id).where(Reservation.week_id.in_(list(weeks) or [0]),
                                                                live_condition(now))).tuples())
    blocked = _blocked(period, wishes, weeks, now)
    problem = core.Problem(
        wishes=tuple(core.WishIn(w.id, w.household_id, w.child_id, w.week_id, _round(w, wishes), w.transport_mode,
                                 stop_circuit.get(w.stop_id) if w.stop_id else None, w.together,
                                 blocked[w.id].code if w.id in blocked else None)
                     for w in wishes.values()),
        places=places, seats=seats, household_points={h: v["points"] for h, v in households.items()},
        child_points={c: rules.no_previous_week_points * len(v) for c, v in child_criteria.items()},
        sibling_points=rules.sibling_points, draw_rank=ranks, max_per_child=period.max_weeks_per_child,
        booked=frozenset(booked))
    outcomes = core.allocate(problem)
    return Computation(period, rules, public_value, seed, households, child_criteria, len(household_ids), outcomes,
                       wishes, weeks, places, {wish_id: reason.message for wish_id, reason in blocked.items()})


def _round(wish: Wish, wishes: dict[int, Wish]) -> int:
    """Ranks as saved are 1..n per household and child: the round is the rank."""
    return wish.rank


def _blocked(period: Period, wishes: dict[int, Wish], weeks: dict[int, Week], now: datetime) -> dict[int, Reason]:
    """Wishes the booking rule now refuses (file back in review, age, week started): never given. The
    reason's code goes into the allocation, its French message into the explanation."""
    if not wishes:
        return {}
    rows = db.session.execute(
        select(Household, HouseholdChild).join(HouseholdChild, HouseholdChild.household_id == Household.id)
        .where(HouseholdChild.child_id.in_({w.child_id for w in wishes.values()}))).all()
    people = {(h.id, link.child_id): (h, link) for h, link in rows}
    today = paris_today(now)
    blocked = {}
    for wish in wishes.values():
        person = people.get((wish.household_id, wish.child_id))
        if person is None:
            blocked[wish.id] = Reason(CHILD_NOT_VALIDATED, _("Cet enfant n'est plus rattaché à votre dossier."))
            continue
        gate = period_reason(person[0], person[1], person[1].child, period, period.establishment, now, desk=True)
        reason = week_reason(gate, weeks[wish.week_id], None, None, wish.household_id, today)
        if reason is not None:
            blocked[wish.id] = reason
    return blocked


def _check_runnable(period: Period, now: datetime) -> None:
    if period.opening_mode != OpeningMode.WISHES:
        raise Conflict(_("Cette période n'est pas ouverte sur vœux."), code="not_wishes_period")
    if period.wishes_close_at is None or now < period.wishes_close_at:
        raise Conflict(_("Les vœux ne sont pas encore clos : l'attribution se fait après la clôture."),
                       code="wishes_not_closed")
    if db.session.execute(select(AllocationRun.id).where(AllocationRun.period_id == period.id)).first():
        raise Conflict(_("L'attribution de cette période est déjà publiée."), code="already_published")


def dry_run(period_id, public_value: str | None = None, now: datetime | None = None, *, actor=None) -> Computation:
    """The allocation as it would be published with this public value (a trial value when none yet).
    Nothing of the allocation is written, but every value tried is audited: a value chosen among
    several trials would show in the audit log."""
    now = now or utcnow()
    period = wishes_period(period_id)
    _check_runnable(period, now)
    period_key = period.id
    value = (public_value or "").strip() or TRIAL_VALUE
    result = compute(period, value, now)
    db.session.rollback()  # read only: release what the counts read
    with unit_of_work():
        audit.record("allocation.dry_run", "period", period_key, actor=actor,
                     after={"public_value": value, "seed": result.seed, "wishes": len(result.outcomes),
                            "given": sum(1 for o in result.outcomes if o.outcome == core.GIVEN)})
    return result


def publish(period_id, public_value: str, *, actor=None, now: datetime | None = None) -> AllocationRun:
    """Publish once: offers for the given wishes, the waiting list for the others, mails, audit."""
    now = now or utcnow()
    value = (public_value or "").strip()
    if not value:
        raise ValidationFailed(_("Saisissez la valeur publique du tirage (annoncée à l'avance)."),
                               code="public_value_required", field="public_value")
    with unit_of_work():
        period = wishes_period(period_id)
        weeks = lock_weeks([w.id for w in period.weeks])
        _check_runnable(period, now)
        result = compute(period, value, now)
        source = public_value_source(period.id)
        applied = dict(result.rules.as_dict(), public_value_source=source,
                       max_weeks_per_child=period.max_weeks_per_child, offer_hours=period.offer_hours)
        run = AllocationRun(period_id=period.id, public_value=value, seed=result.seed,
                            rules_json=json.dumps(applied, sort_keys=True, ensure_ascii=False),
                            result_json=result.as_json(), published_at=now, published_by_id=getattr(actor, "id", None))
        db.session.add(run)
        db.session.flush()
        stops = {s.id: s for s in db.session.execute(select(Stop)).scalars()} if result.wishes else {}
        ordered = sorted(result.outcomes, key=lambda o: (o.order, o.child_id, o.wish_id))
        for outcome in ordered:
            if outcome.outcome == core.GIVEN:
                wish = result.wishes[outcome.wish_id]
                week = weeks[wish.week_id]
                stop = stops.get(wish.stop_id) if outcome.transport == "bus" and wish.stop_id else None
                entry = _entry(wish, now)
                create_offer(entry, week, outcome.transport or "onsite", stop.circuit if stop else None, stop,
                             offer_deadline(week, period.offer_hours, now), now)
        groups = _sibling_groups(result.wishes)
        split: list[int] = []
        for outcome in ordered:
            if outcome.outcome == core.REFUSED and outcome.reason in core.WAITLISTED:
                wish = result.wishes[outcome.wish_id]
                entry = _entry(wish, now)
                if wish.together and (wish.household_id, wish.week_id) in groups:
                    split.append(entry.id)
        # A place left free (a wish refused for its bus, a child at its maximum) goes down the list the
        # allocation just made, with the period's own offer hours (not the waiting list's setting); a
        # refused « ensemble ou pas du tout » group is skipped: one place must not split it.
        offer_freed_places(list(weeks), now, offer_hours=period.offer_hours, skip_entry_ids=split)
        audit.record("allocation.published", "period", period.id, actor=actor,
                     after={"run_id": run.id, "public_value": value, "public_value_source": source,
                            "seed": result.seed, "rules": result.rules.as_dict(), "wishes": len(result.outcomes),
                            "given": sum(1 for o in result.outcomes if o.outcome == core.GIVEN)})
        _mail_results(period, result)
    return run


def _sibling_groups(wishes: dict[int, Wish]) -> set[tuple[int, int]]:
    """(household, week) of every « ensemble » group: two children or more wishing the week together."""
    children: dict[tuple[int, int], set[int]] = {}
    for wish in wishes.values():
        if wish.together:
            children.setdefault((wish.household_id, wish.week_id), set()).add(wish.child_id)
    return {key for key, kids in children.items() if len(kids) >= 2}


def _entry(wish: Wish, now: datetime) -> WaitlistEntry:
    """The wish's waiting-list entry (joined in allocation order: ids ascending at one joining time)."""
    existing = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.child_id == wish.child_id, WaitlistEntry.week_id == wish.week_id,
                                    WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))).scalar_one_or_none()
    if existing is not None:
        return existing
    mode, stop_id = wish.transport_mode, wish.stop_id
    entry = WaitlistEntry(household_id=wish.household_id, child_id=wish.child_id, week_id=wish.week_id,
                          transport_mode=mode, stop_id=stop_id if mode != "onsite" else None,
                          status=WaitlistStatus.WAITING, joined_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("waitlist.joined", "waitlist_entry", entry.id, household_id=wish.household_id,
                 after={"child_id": wish.child_id, "week_id": wish.week_id, "transport_mode": mode,
                        "stop_id": entry.stop_id, "wish_id": wish.id})
    return entry


def _mail_results(period: Period, result: Computation) -> None:
    from app.services.mail import public_url, queue_mail

    for household_id in sorted(result.households):
        household = db.session.get(Household, household_id)
        to = household.email or (household.owner.email if household.owner else None)
        if not to:
            continue
        mine = [o for o in result.outcomes if o.household_id == household_id]
        queue_mail("allocation_result", to, _("Résultat de l'attribution : %(period)s", period=period.name),
                   "allocation_result", household_id=household_id,
                   dedupe_key=f"allocation-{period.id}-{household_id}", household_name=household.name,
                   period=period.name, given=sum(1 for o in mine if o.outcome == core.GIVEN), wishes=len(mine),
                   offer_hours=period.offer_hours, url=public_url(f"/famille/attribution/{period.id}"))
