"""The catalogue's rules, one function per kind of row, checked before every staff write.

Each check receives the row as the staff form left it and, for an edit, the column values it had
before (`before`, None for a new row), and raises a ValidationFailed or Conflict with a French
message saying what to correct. The database's own constraints would refuse most of these too, but
with an English SQL error and a lost form; and some rules (capacity under what is booked, a bracket
overlapping another) are not expressible as a constraint at all.

Capacity rules take the week locks first (booking's `lock_weeks`, stable order) and then count, so
a parent's basket cannot take the last place between the count and the staff's commit.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from app.models import Circuit, Establishment, Period, Reservation, Stop, TariffBracket, Week, db, utcnow
from app.services.booking.capacity import circuit_usage, live_condition, lock_weeks, week_usage
from app.services.booking.eligibility import paris_datetime
from app.services.errors import Conflict, ValidationFailed
from app.services.localize import date_fr, euros

ESTABLISHMENT_KINDS = ("alsh", "sejour")


def _changed(before: dict | None, field: str, value: Any) -> bool:
    return before is not None and before.get(field) != value


def _not_negative(value: int | None, message: str, code: str) -> None:
    if value is not None and value < 0:
        raise ValidationFailed(message, code=code)


# --- counting what is booked ---------------------------------------------------------------

def reservation_counts(*conditions) -> tuple[int, int]:
    """(live, any status) reservations matching `conditions`: live ones occupy a place now; the
    others are history that the database keeps pointing at the row (ondelete RESTRICT)."""
    live = db.session.execute(
        select(func.count()).select_from(Reservation).where(*conditions, live_condition(utcnow()))).scalar_one()
    total = db.session.execute(select(func.count()).select_from(Reservation).where(*conditions)).scalar_one()
    return live, total


def _refuse_move_if_booked(conditions: tuple, message: str) -> None:
    if reservation_counts(*conditions)[1]:
        raise Conflict(message, code="booked")


# --- one check per kind of row --------------------------------------------------------------

def check_establishment(establishment: Establishment, before: dict | None) -> None:
    if establishment.kind not in ESTABLISHMENT_KINDS:
        raise ValidationFailed(_("Type inconnu : saisissez « alsh » (accueil de loisirs) ou « sejour »."),
                               code="kind")
    _not_negative(establishment.age_min, _("L'âge minimum ne peut pas être négatif."), "ages")
    if establishment.age_max < establishment.age_min:
        raise ValidationFailed(_("L'âge maximum (%(max)d ans) est inférieur à l'âge minimum (%(min)d ans).",
                                 max=establishment.age_max, min=establishment.age_min), code="ages")


def check_period(period: Period, before: dict | None) -> None:
    if period.ends_on < period.starts_on:
        raise ValidationFailed(_("Le dernier jour (%(end)s) est avant le premier jour (%(start)s).",
                                 end=date_fr(period.ends_on), start=date_fr(period.starts_on)), code="dates")
    if period.closes_at <= period.opens_at:
        raise ValidationFailed(_("La clôture des inscriptions doit être après leur ouverture."), code="window")
    _not_negative(period.bus_price_cents, _("Le prix du bus ne peut pas être négatif."), "price")
    _check_wishes_mode(period, before)
    if before is None:
        return
    for week in period.weeks:
        if not _inside(week.starts_on, week.ends_on, period):
            raise ValidationFailed(
                _("La semaine « %(week)s » sortirait de la période : changez d'abord ses dates ou supprimez-la.",
                  week=week.label), code="week_outside")
    if _changed(before, "establishment_id", period.establishment.id if period.establishment else None):
        _refuse_move_if_booked(
            (Reservation.week_id.in_([w.id for w in period.weeks]),),
            _("Cette période a des inscriptions : elle ne peut pas changer d'établissement."))


def _check_wishes_mode(period: Period, before: dict | None) -> None:
    """Issue 15: a period opened by wishes needs its wish window (and results after it); the opening
    mode cannot change once families have made wishes."""
    from app.models import OpeningMode, Wish

    period.opening_mode = period.opening_mode or OpeningMode.FIRST_COME
    if period.opening_mode not in OpeningMode.ALL:
        raise ValidationFailed(_("Mode d'ouverture inconnu."), code="opening_mode")
    if period.offer_hours is None or not 1 <= period.offer_hours <= 720:
        raise ValidationFailed(_("Le délai pour payer une place attribuée va de 1 à 720 heures."), code="offer_hours")
    if period.max_weeks_per_child is not None and period.max_weeks_per_child < 1:
        raise ValidationFailed(_("Le nombre de semaines par enfant est d'au moins 1 (laissez vide : sans limite)."),
                               code="max_weeks")
    if period.opening_mode == OpeningMode.WISHES:
        if period.wishes_open_at is None or period.wishes_close_at is None:
            raise ValidationFailed(_("Une période sur vœux a besoin de l'ouverture et de la clôture des vœux."),
                                   code="wishes_window")
        if period.wishes_close_at <= period.wishes_open_at:
            raise ValidationFailed(_("La clôture des vœux doit être après leur ouverture."), code="wishes_window")
        if period.results_at is not None and period.results_at < period.wishes_close_at:
            raise ValidationFailed(_("Les résultats ne peuvent pas être publiés avant la clôture des vœux."),
                                   code="wishes_window")
    _check_frozen_campaign(period, before)
    if before is not None and period.id is not None and _changed(before, "opening_mode", period.opening_mode) \
            and db.session.execute(select(Wish.id).where(Wish.period_id == period.id).limit(1)).first():
        raise Conflict(_("Des familles ont déjà fait des vœux pour cette période : son mode d'ouverture ne peut "
                         "plus changer."), code="opening_mode")


# Fields that decide who gets a place in a wish campaign: frozen once the window has opened (moving
# the opening into the future would otherwise unfreeze the priority rules).
FROZEN_WISH_FIELDS = ("wishes_open_at", "max_weeks_per_child", "opening_mode")


def _check_frozen_campaign(period: Period, before: dict | None) -> None:
    """Issue 15: once the wish window has opened, its opening, the maximum of weeks per child and the
    opening mode stay as announced; once the allocation is published, nothing of the period changes."""
    from app.models import AllocationRun, OpeningMode

    if before is None or period.id is None or before.get("opening_mode") != OpeningMode.WISHES:
        return
    if db.session.execute(select(AllocationRun.id).where(AllocationRun.period_id == period.id)).first():
        establishment_id = period.establishment.id if period.establishment else period.establishment_id
        if any(_changed(before, key, establishment_id if key == "establishment_id" else getattr(period, key))
               for key in before if key != "id"):
            raise Conflict(_("L'attribution de cette période est publiée : la période ne peut plus changer."),
                           code="allocation_published")
    opened_at = before.get("wishes_open_at")
    if opened_at is None or utcnow() < opened_at:
        return
    if any(_changed(before, key, getattr(period, key)) for key in FROZEN_WISH_FIELDS):
        raise Conflict(_("Les vœux sont ouverts depuis le %(when)s : l'ouverture des vœux, le nombre de semaines "
                         "par enfant et le mode d'ouverture ne peuvent plus changer.",
                         when=paris_datetime(opened_at)), code="wishes_rules_frozen")


def _inside(starts_on: date, ends_on: date, period: Period) -> bool:
    return period.starts_on <= starts_on and ends_on <= period.ends_on


def check_week(week: Week, before: dict | None) -> None:
    _not_negative(week.capacity, _("La capacité ne peut pas être négative."), "capacity")
    if week.ends_on < week.starts_on:
        raise ValidationFailed(_("La fin de la semaine (%(end)s) est avant son début (%(start)s).",
                                 end=date_fr(week.ends_on), start=date_fr(week.starts_on)), code="dates")
    period = week.period
    if period is not None and not _inside(week.starts_on, week.ends_on, period):
        raise ValidationFailed(_("La semaine doit être comprise dans sa période (du %(start)s au %(end)s).",
                                 start=date_fr(period.starts_on), end=date_fr(period.ends_on)), code="week_outside")
    if before is None:
        return
    if _changed(before, "period_id", period.id if period else None):
        _refuse_move_if_booked((Reservation.week_id == week.id,),
                               _("Cette semaine a des inscriptions : elle ne peut pas changer de période."))
    if _changed(before, "capacity", week.capacity):
        lock_weeks([week.id])
        taken = week_usage([week.id])[week.id]
        if week.capacity < taken:
            raise Conflict(ngettext("Capacité trop basse : %(num)d place est déjà réservée pour cette semaine.",
                                    "Capacité trop basse : %(num)d places sont déjà réservées pour cette semaine.",
                                    taken), code="capacity_below_booked", taken=taken)


def check_tariff(bracket: TariffBracket, before: dict | None) -> None:
    _not_negative(bracket.qf_min, _("Le QF minimum ne peut pas être négatif."), "qf")
    _not_negative(bracket.price_cents, _("Le prix ne peut pas être négatif."), "price")
    meal_share = bracket.meal_share_cents = bracket.meal_share_cents or 0  # left empty: no meal billed
    _not_negative(meal_share, _("La part des repas ne peut pas être négative."), "meal_share")
    if bracket.price_cents is not None and meal_share > bracket.price_cents:
        raise ValidationFailed(_("La part des repas (%(meal)s) dépasse le prix de la semaine (%(price)s).",
                                 meal=euros(meal_share), price=euros(bracket.price_cents)), code="meal_share")
    if bracket.qf_max is not None and bracket.qf_max < bracket.qf_min:
        raise ValidationFailed(_("Le QF maximum (%(max)d €) est inférieur au QF minimum (%(min)d €).",
                                 max=bracket.qf_max, min=bracket.qf_min), code="qf")
    if bracket.period is None:
        return
    for other in bracket.period.tariffs:
        if other is bracket:
            continue
        if _overlap(bracket, other):
            ceiling = _("sans plafond") if other.qf_max is None else f"{other.qf_max} €"
            raise ValidationFailed(
                _("Cette tranche chevauche la tranche « %(label)s » (QF de %(min)d € à %(max)s) de la même période.",
                  label=other.label, min=other.qf_min, max=ceiling), code="tariff_overlap")


def _overlap(a: TariffBracket, b: TariffBracket) -> bool:
    """Brackets are inclusive at both ends (pricing's `bracket_for`); no qf_max means no ceiling."""
    a_below_b_max = b.qf_max is None or a.qf_min <= b.qf_max
    b_below_a_max = a.qf_max is None or b.qf_min <= a.qf_max
    return a_below_b_max and b_below_a_max


def check_circuit(circuit: Circuit, before: dict | None) -> None:
    _not_negative(circuit.seats, _("Le nombre de places assises ne peut pas être négatif."), "seats")
    if before is None:
        return
    if _changed(before, "period_id", circuit.period.id if circuit.period else None):
        _refuse_move_if_booked((Reservation.circuit_id == circuit.id,),
                               _("Ce circuit a des inscriptions : il ne peut pas changer de période."))
    if _changed(before, "seats", circuit.seats) and circuit.period is not None:
        weeks = lock_weeks([w.id for w in circuit.period.weeks])
        usage = circuit_usage([(circuit.id, week_id) for week_id in weeks])
        if not usage:
            return
        (_circuit_id, fullest), taken = max(usage.items(), key=lambda item: (item[1], -item[0][1]))
        if circuit.seats < taken:
            raise Conflict(ngettext(
                "Places assises trop basses : %(num)d place est déjà réservée sur ce circuit "
                "pour la semaine « %(week)s ».",
                "Places assises trop basses : %(num)d places sont déjà réservées sur ce circuit "
                "pour la semaine « %(week)s ».", taken, week=weeks[fullest].label),
                code="seats_below_booked", taken=taken)


def check_stop(stop: Stop, before: dict | None) -> None:
    if stop.position is not None and stop.position < 1:
        raise ValidationFailed(_("L'ordre de passage commence à 1."), code="position")
    if stop.pickup_time is not None and stop.dropoff_time is not None and stop.dropoff_time <= stop.pickup_time:
        raise ValidationFailed(_("L'heure de descente (soir) doit être après l'heure de montée (matin)."),
                               code="times")
    if stop.circuit is not None:
        for other in stop.circuit.stops:
            if other is not stop and other.position == stop.position:
                raise ValidationFailed(
                    _("L'arrêt « %(name)s » a déjà l'ordre de passage %(position)d sur ce circuit.",
                      name=other.name, position=stop.position), code="position_taken")
    if before is not None and _changed(before, "circuit_id", stop.circuit.id if stop.circuit else None):
        _refuse_move_if_booked((Reservation.stop_id == stop.id,),
                               _("Cet arrêt a des inscriptions : il ne peut pas changer de circuit."))


# --- deletions ---------------------------------------------------------------------------------

def _refuse_delete_if_booked(conditions: tuple, what: str, week_ids: list[int]) -> None:
    """Locks the weeks first, so that no basket books the row between the count and the delete.
    `what` names the row in French (« cette semaine »)."""
    lock_weeks(week_ids)
    live, total = reservation_counts(*conditions)
    if live:
        raise Conflict(ngettext("Suppression impossible : %(num)d inscription en cours sur %(what)s.",
                                "Suppression impossible : %(num)d inscriptions en cours sur %(what)s.",
                                live, what=what), code="booked", live=live)
    if total:
        raise Conflict(_("Suppression impossible : %(what)s garde l'historique d'inscriptions passées "
                         "(expirées, retirées ou annulées).", what=what), code="booked_history", total=total)


def check_delete_establishment(establishment: Establishment) -> None:
    if establishment.periods:
        raise Conflict(_("Cet établissement a des périodes : supprimez-les d'abord, ou décochez « Actif » "
                         "pour le retirer du portail."), code="has_periods")


def check_delete_period(period: Period) -> None:
    week_ids = [w.id for w in period.weeks]
    _refuse_delete_if_booked((Reservation.week_id.in_(week_ids),), _("cette période"), week_ids)


def check_delete_week(week: Week) -> None:
    _refuse_delete_if_booked((Reservation.week_id == week.id,), _("cette semaine"), [week.id])


def check_delete_circuit(circuit: Circuit) -> None:
    week_ids = [w.id for w in circuit.period.weeks] if circuit.period else []
    _refuse_delete_if_booked((Reservation.circuit_id == circuit.id,), _("ce circuit"), week_ids)


def check_delete_stop(stop: Stop) -> None:
    period = stop.circuit.period if stop.circuit else None
    _refuse_delete_if_booked((Reservation.stop_id == stop.id,), _("cet arrêt"),
                             [w.id for w in period.weeks] if period else [])


DELETE_CHECKS = {
    Establishment: check_delete_establishment,
    Period: check_delete_period,
    Week: check_delete_week,
    Circuit: check_delete_circuit,
    Stop: check_delete_stop,
}

CHECKS = {
    Establishment: check_establishment,
    Period: check_period,
    Week: check_week,
    TariffBracket: check_tariff,
    Circuit: check_circuit,
    Stop: check_stop,
}
