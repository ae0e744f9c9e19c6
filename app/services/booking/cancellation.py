"""The cancellation rule: what happens if this confirmed week is cancelled now (DESIGN.md §2.4).

One function, `quote()`, answers for every entry point: the sentence shown before the parent
confirms, the API's answer, the parent's cancellation itself and staff's queue all read it, so what
the family was told is what happens. The money side (credit note, refund) is carried out by
app.services.payments.cancellations, which owns money; this module owns the rules and the requests.

The rules are the period's (`CancellationRules`, defaults when staff set none): free until the end
of the day N days before the week starts (Paris time, N = 7 by default), after that only with a
justification that staff decide, never once the week has started; the outcome is a credit (avoir)
or a refund to the card, per period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import (
    CancellationOutcome,
    CancellationRequest,
    CancellationRequestStatus,
    CancellationRules,
    CreditNote,
    CreditNoteKind,
    Period,
    Reservation,
    ReservationStatus,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.eligibility import PARIS
from app.services.errors import NotFound, ValidationFailed
from app.services.localize import MONTHS, euros

DEFAULT_FREE_DAYS = 7
RULE_FIELDS = ["free_days_before", "late_with_justification", "outcome"]


class QuoteOutcome:
    CREDIT = CancellationOutcome.CREDIT
    REFUND = CancellationOutcome.REFUND
    PENDING_REVIEW = "pending_review"  # after the free deadline: a justification, then staff decide
    REFUSED = "refused"


@dataclass(frozen=True)
class Rules:
    free_days_before: int = DEFAULT_FREE_DAYS
    late_with_justification: bool = True
    outcome: str = CancellationOutcome.CREDIT


@dataclass(frozen=True)
class Quote:
    """What cancelling `reservation_id` now would do. `outcome` is credit or refund (free, at once),
    pending_review (a justification is needed, staff decide) or refused (with `code`)."""

    reservation_id: int
    outcome: str
    amount_cents: int
    message: str
    free_until: date | None  # the last day of free cancellation (Paris)
    rule_outcome: str  # what an accepted cancellation gives: credit or refund
    code: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome != QuoteOutcome.REFUSED

    @property
    def needs_justification(self) -> bool:
        return self.outcome == QuoteOutcome.PENDING_REVIEW


def day_fr(value: date) -> str:
    """« 14 juin », « 1er juillet »: the day as the published rule says it."""
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]}"


def rules_for(period_id: int) -> Rules:
    row = db.session.execute(
        select(CancellationRules).where(CancellationRules.period_id == period_id)).scalar_one_or_none()
    if row is None:
        return Rules()
    return Rules(row.free_days_before, row.late_with_justification, row.outcome)


def week_starts_at(starts_on: date) -> datetime:
    return datetime.combine(starts_on, time(0, 0), tzinfo=PARIS).astimezone(timezone.utc)


def free_until(starts_on: date, rules: Rules) -> date:
    return starts_on - timedelta(days=rules.free_days_before)


def free_deadline(starts_on: date, rules: Rules) -> datetime:
    """The instant free cancellation ends: midnight after the last free day, Paris time."""
    return week_starts_at(free_until(starts_on, rules) + timedelta(days=1))


def rule_sentence(rules: Rules, starts_on: date) -> str:
    """The published rule, as parents read it before paying and before cancelling."""
    what = (_("un avoir sur votre compte") if rules.outcome == CancellationOutcome.CREDIT
            else _("un remboursement sur votre carte"))
    late = (_("ensuite, seulement avec un justificatif (certificat médical…) accepté par le Pôle Jeunesse")
            if rules.late_with_justification else _("ensuite, plus d'annulation possible"))
    return _("Annulation gratuite jusqu'au %(day)s (%(what)s) ; %(late)s ; aucune annulation une fois la "
             "semaine commencée.", day=day_fr(free_until(starts_on, rules)), what=what, late=late)


def basket_terms(lines: list[dict]) -> list[dict]:
    """The published rule of each basket line (the basket's line dicts), shown before paying: one
    read of the rules per period."""
    rules: dict[int, Rules] = {}
    terms = []
    for line in lines:
        period_id = line["period"]["id"]
        if period_id not in rules:
            rules[period_id] = rules_for(period_id)
        terms.append({"line_id": line["id"], "label": f"{line['child']['first_name']} — {line['week']['label']}",
                      "sentence": rule_sentence(rules[period_id], date.fromisoformat(line["week"]["starts_on"]))})
    return terms


def given_back_cents(reservation_id: int) -> int:
    """What avoirs of the cancellation kind have already given back for this week (a justified
    absent day, app.services.operations.absence_credit): cancelling the week gives the rest, never
    the same day twice."""
    return int(db.session.execute(
        select(func.coalesce(func.sum(CreditNote.amount_cents), 0))
        .where(CreditNote.reservation_id == reservation_id, CreditNote.kind == CreditNoteKind.CANCELLATION)
    ).scalar())


def amount_due_back(reservation: Reservation) -> int:
    """What cancelling the week gives back: its total, less what avoirs already gave back."""
    return max(0, reservation.total_cents - given_back_cents(reservation.id))


def quote(reservation: Reservation, now: datetime | None = None) -> Quote:
    """The one rule. Reads only: callers that act on it hold the reservation's lock."""
    now = now or utcnow()
    week = reservation.week
    rules = rules_for(week.period_id)
    amount = amount_due_back(reservation)
    last_free_day = free_until(week.starts_on, rules)

    def make(outcome: str, message: str, code: str | None = None, cents: int = amount) -> Quote:
        return Quote(reservation.id, outcome, cents, message, last_free_day, rules.outcome, code)

    if reservation.status != ReservationStatus.CONFIRMED:
        return make(QuoteOutcome.REFUSED, _("Seule une inscription confirmée peut être annulée."),
                    "not_confirmed", 0)
    if now >= week_starts_at(week.starts_on):
        return make(QuoteOutcome.REFUSED, _("La semaine a commencé : elle ne peut plus être annulée. "
                                            "Contactez le Pôle Jeunesse."), "week_started", 0)
    if pending_request(reservation.id) is not None:
        return make(QuoteOutcome.REFUSED, _("Votre demande d'annulation est déjà en cours d'examen par le "
                                            "Pôle Jeunesse."), "request_pending", 0)
    money = (_("un avoir de %(amount)s sera crédité sur votre compte", amount=euros(amount))
             if rules.outcome == CancellationOutcome.CREDIT
             else _("%(amount)s vous seront remboursés sur votre carte", amount=euros(amount)))
    if amount == 0:
        money = _("rien n'avait été payé pour cette semaine")
    if now < free_deadline(week.starts_on, rules):
        return make(rules.outcome, _("Annulation gratuite jusqu'au %(day)s : %(money)s.",
                                     day=day_fr(last_free_day), money=money))
    if rules.late_with_justification:
        return make(QuoteOutcome.PENDING_REVIEW,
                    _("Le délai d'annulation gratuite est passé (%(day)s) : joignez un justificatif (certificat "
                      "médical…). Si le Pôle Jeunesse l'accepte, %(money)s.", day=day_fr(last_free_day),
                      money=money))
    return make(QuoteOutcome.REFUSED, _("Le délai d'annulation est passé depuis le %(day)s : cette semaine ne "
                                        "peut plus être annulée.", day=day_fr(last_free_day)),
                "deadline_passed", 0)


def household_quote(household_id: int, reservation_id: int, now: datetime | None = None) -> Quote:
    """What cancelling one of the household's own reservations would do now (nothing is cancelled).
    Another household's reservation is "not found", as everywhere (DESIGN §3.6)."""
    line = db.session.get(Reservation, reservation_id)
    if line is None or line.household_id != household_id:
        raise NotFound(_("Inscription introuvable."), code="reservation_not_found")
    return quote(line, now)


# --- requests -----------------------------------------------------------------------------------

def pending_request(reservation_id: int) -> CancellationRequest | None:
    return db.session.execute(select(CancellationRequest).where(
        CancellationRequest.reservation_id == reservation_id,
        CancellationRequest.status == CancellationRequestStatus.PENDING)).scalar_one_or_none()


def add_request(line: Reservation, *, document_id: int | None, reason: str | None, actor) -> CancellationRequest:
    """Inside the caller's locked block: a late cancellation waits for staff's decision."""
    request = CancellationRequest(reservation_id=line.id, household_id=line.household_id, document_id=document_id,
                                  reason=(reason or "").strip()[:1000] or None)
    db.session.add(request)
    db.session.flush()
    audit.record("cancellation.requested", "cancellation_request", request.id, actor=actor,
                 household_id=line.household_id,
                 after={"reservation_id": line.id, "document_id": document_id, "reason": request.reason})
    return request


def pending_requests(limit: int = 300) -> list[CancellationRequest]:
    """Staff's queue, oldest first: the family has waited longest."""
    return list(db.session.execute(
        select(CancellationRequest).where(CancellationRequest.status == CancellationRequestStatus.PENDING)
        .order_by(CancellationRequest.created_at, CancellationRequest.id).limit(limit)).scalars())


# --- staff: the rules of a period ----------------------------------------------------------------

def set_rules(period_id: int, *, free_days_before, late_with_justification: bool, outcome: str, actor) -> Rules:
    """Staff publish a period's rules (audited). Caller owns the transaction."""
    if db.session.get(Period, period_id) is None:
        raise NotFound(_("Période introuvable."), code="period_not_found")
    try:
        days = int(free_days_before)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Indiquez un nombre de jours entre 0 et 365."), code="invalid_days") from None
    if not 0 <= days <= 365:
        raise ValidationFailed(_("Indiquez un nombre de jours entre 0 et 365."), code="invalid_days")
    if outcome not in CancellationOutcome.ALL:
        raise ValidationFailed(_("Choisissez avoir ou remboursement."), code="invalid_outcome")
    row = db.session.execute(
        select(CancellationRules).where(CancellationRules.period_id == period_id)).scalar_one_or_none()
    if row is None:
        row = CancellationRules(period_id=period_id)
        db.session.add(row)
        before = None
    else:
        before = audit.snapshot(row, RULE_FIELDS)
    row.free_days_before, row.late_with_justification, row.outcome = days, bool(late_with_justification), outcome
    db.session.flush()
    audit.record("cancellation_rules.updated", "period", period_id, actor=actor, before=before,
                 after=audit.snapshot(row, RULE_FIELDS))
    return Rules(days, bool(late_with_justification), outcome)
