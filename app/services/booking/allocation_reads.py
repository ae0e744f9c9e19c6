"""Reading an allocation: a family's explanation, staff's dry-run figures, the CSV, the public rules.

Why from the stored run (`AllocationRun.result_json`) and not recomputed: what a family reads must be
what was published, whatever happened since; only the waiting-list position is live (it moves).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import fields
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from app.models import (
    AllocationRun,
    Child,
    Household,
    OfferOutcome,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    Week,
    Wish,
    db,
)
from app.services.booking import allocation as core
from app.services.booking.priority import CRITERIA, Rules
from app.services.booking.waitlist import position
from app.services.booking.wishes import period_rules, public_value_source, wishes_period
from app.services.errors import NotFound

CRITERION_LABELS = {
    "resident": "Résident d'une commune de l'intercommunalité",
    "working": "Tous les parents du foyer travaillent (attestation d'employeur)",
    "sibling": "Un frère ou une sœur a déjà la même semaine",
    "no_previous_week": "Aucune semaine obtenue à la période précédente de cet accueil",
    "low_quotient": "Quotient familial sous le seuil",
}
REASON_LABELS = {
    core.FULL: "complet au tour %(round)s",
    core.GROUP_NO_ROOM: "pas assez de places pour toute la fratrie au tour %(round)s",
    core.BUS_FULL: "plus de place dans le bus au tour %(round)s",
    core.GROUP_MEMBER: "un frère ou une sœur du groupe « ensemble » ne pouvait pas être accueilli",
    core.MAX_REACHED: "nombre maximal de semaines par enfant déjà atteint",
    core.ALREADY_GIVEN: "l'enfant a déjà cette semaine",
}


def ordinal(n: int) -> str:
    return "1ʳᵉ" if n == 1 else f"{n}ᵉ"


def public_rules(period_id: Any) -> dict:
    """The « Règles d'attribution » page: criteria with points, frozen or not, the draw's recipe and the
    announced source of its public value. Once published, the rules stored with the run (as applied),
    whatever the current rows say."""
    period = wishes_period(period_id)
    rules = period_rules(period.id)
    source = public_value_source(period.id)
    max_weeks, offer_hours = period.max_weeks_per_child, period.offer_hours
    found = _run(period.id)
    run = None
    if found is not None:
        row, data = found
        applied = json.loads(row.rules_json)
        rules = published_rules(row)
        source = applied.get("public_value_source")
        max_weeks = applied.get("max_weeks_per_child", max_weeks)
        offer_hours = applied.get("offer_hours", offer_hours)
        run = {"public_value": row.public_value, "seed": row.seed, "published_at": row.published_at,
               "draw_size": data["draw_size"], "wish_ids": sorted(o["wish_id"] for o in data["wishes"])}
    return {"period": period, "rules": rules, "criteria": rule_lines(rules), "run": run,
            "public_value_source": source, "max_weeks_per_child": max_weeks, "offer_hours": offer_hours}


def published_rules(run: AllocationRun) -> Rules:
    """The priority rules as the run applied them (its `rules_json` also keeps the period's settings)."""
    stored: dict[str, Any] = json.loads(run.rules_json)
    known = {f.name for f in fields(Rules)}
    values = {k: v for k, v in stored.items() if k in known}
    values["resident_communes"] = tuple(values.get("resident_communes") or ())
    return Rules(**values)


def rule_lines(rules: Rules) -> list[dict]:
    lines = []
    for code in CRITERIA:
        label = _(CRITERION_LABELS[code])
        if code == "resident" and rules.resident_communes:
            label += " : " + ", ".join(rules.resident_communes)
        if code == "low_quotient" and rules.quotient_threshold is not None:
            label += _(" (moins de %(qf)s €)", qf=rules.quotient_threshold)
        lines.append({"code": code, "label": label, "points": rules.points_of(code)})
    return lines


def _run(period_id: int) -> tuple[AllocationRun, dict] | None:
    run = db.session.execute(select(AllocationRun).where(AllocationRun.period_id == period_id)).scalar_one_or_none()
    return (run, json.loads(run.result_json)) if run else None


def explanation(household_id: int, period_id: Any) -> dict:
    """The family's result and why: points and criteria, draw rank « 134 sur 412 », each wish's round
    and outcome (« complet au tour 2 ; 3ᵉ sur la liste d'attente »)."""
    period = wishes_period(period_id)
    found = _run(period.id)
    if found is None:
        return {"published": False, "period_id": period.id, "results_at": period.results_at}
    run, data = found
    mine = data["households"].get(str(household_id))
    if mine is None:
        raise NotFound(_("Vous n'avez pas fait de vœux pour cette période."), code="no_wishes")
    rules = published_rules(run)
    outcomes = [o for o in data["wishes"] if o["household_id"] == household_id]
    wishes = {w.id: w for w in db.session.execute(select(Wish).where(Wish.id.in_([o["wish_id"] for o in outcomes])))
              .scalars()}
    weeks = {w.id: w for w in db.session.execute(select(Week).where(Week.period_id == period.id)).scalars()}
    children = {c.id: c for c in db.session.execute(
        select(Child).where(Child.id.in_({o["child_id"] for o in outcomes}))).scalars()}
    entries = {(e.child_id, e.week_id): e for e in db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.household_id == household_id,
                                    WaitlistEntry.week_id.in_(list(weeks) or [0]))
        .order_by(WaitlistEntry.id)).scalars()}
    deadlines = dict(db.session.execute(
        select(WaitlistOffer.entry_id, WaitlistOffer.expires_at).where(
            WaitlistOffer.entry_id.in_([e.id for e in entries.values()] or [0]),
            WaitlistOffer.outcome == OfferOutcome.PENDING)).tuples().all())
    rows = []
    for o in sorted(outcomes, key=lambda o: (children[o["child_id"]].first_name, wishes[o["wish_id"]].rank)):
        entry = entries.get((o["child_id"], o["week_id"]))
        rows.append({"wish_id": o["wish_id"], "child": children[o["child_id"]].first_name,
                     "child_id": o["child_id"], "week": weeks[o["week_id"]].label, "rank": wishes[o["wish_id"]].rank,
                     "round": o["round"], "points": o["points"], "outcome": o["outcome"], "reason": o["reason"],
                     "transport": o["transport"], "entry_id": entry.id if entry else None,
                     "entry_status": entry.status if entry else None,
                     "text": _wish_text(o, entry, data.get("blocked", {}).get(str(o["wish_id"]))),
                     "offer_expires_at": deadlines.get(entry.id) if entry else None})
    criteria = [{"code": c, "label": _(CRITERION_LABELS[c]), "points": rules.points_of(c)} for c in mine["criteria"]]
    child_bonus = [{"child": children[int(c)].first_name, "code": code, "label": _(CRITERION_LABELS[code]),
                    "points": rules.points_of(code)}
                   for c, codes in data["children"].items() if int(c) in children for code in codes]
    return {"published": True, "period_id": period.id, "household_id": household_id, "published_at": run.published_at,
            "public_value": run.public_value, "seed": run.seed, "points": mine["points"], "criteria": criteria,
            "child_criteria": child_bonus, "sibling_points": rules.sibling_points,
            "draw_rank": mine["rank"], "draw_size": data["draw_size"],
            "draw_text": _("%(rank)s sur %(size)s", rank=mine["rank"], size=data["draw_size"]), "wishes": rows}


def _reason_text(o: dict, blocked: str | None) -> str:
    """Why a wish was refused, in French: the allocation's reason, or the booking rule's message stored
    with the run for a wish the eligibility blocked (never the bare code)."""
    reason = o["reason"] or ""
    if reason in REASON_LABELS:
        return _(REASON_LABELS[reason], round=o["round"])
    if blocked:
        return _("non attribuable : %(why)s", why=blocked)
    return _("non attribuable : l'enfant ne pouvait pas être inscrit pour cette semaine")


def _wish_text(o: dict, entry: WaitlistEntry | None, blocked: str | None = None) -> str:
    if o["outcome"] == core.GIVEN:
        text = _("attribuée au tour %(round)s", round=o["round"])
        if entry is not None and entry.status == WaitlistStatus.ACCEPTED:
            text += _(" ; payée")
        elif entry is not None and entry.status == WaitlistStatus.OFFERED:
            text += _(" ; à payer avant l'échéance")
        elif entry is not None and entry.status == WaitlistStatus.LAPSED:
            text += _(" ; délai de paiement dépassé")
        return text
    text = _reason_text(o, blocked)
    if entry is not None and entry.status == WaitlistStatus.WAITING:
        text += _(" ; %(pos)s sur la liste d'attente", pos=ordinal(position(entry) or 0))
    elif entry is not None and entry.status == WaitlistStatus.OFFERED:
        text += _(" ; une place vous est proposée depuis la liste d'attente")
    return text


def dry_run_report(result) -> dict:
    """Staff's figures: fill rate per week, families with no place, by priority group and by commune."""
    given_by_week = Counter(o.week_id for o in result.outcomes if o.outcome == core.GIVEN)
    weeks = [{"label": w.label, "capacity": w.capacity, "free_before": result.places.get(w.id, 0),
              "given": given_by_week.get(w.id, 0),
              "wished": sum(1 for o in result.outcomes if o.week_id == w.id),
              "fill": round(100 * given_by_week.get(w.id, 0) / result.places[w.id]) if result.places.get(w.id) else 0}
             for w in sorted(result.weeks.values(), key=lambda w: (w.starts_on, w.id))]
    got: dict[int, int] = defaultdict(int)
    for o in result.outcomes:
        got[o.household_id] += o.outcome == core.GIVEN
    without = [h for h in sorted(result.households) if got[h] == 0]

    def group_by(key) -> list[dict]:
        groups: dict[Any, list[int]] = defaultdict(list)
        for h, info in result.households.items():
            groups[key(info)].append(h)
        return [{"key": k, "households": len(v), "without_place": sum(1 for h in v if got[h] == 0)}
                for k, v in sorted(groups.items(), key=lambda kv: (str(kv[0])))]

    names = dict(db.session.execute(select(Household.id, Household.name).where(
        Household.id.in_(without or [0]))).all())
    return {"seed": result.seed, "public_value": result.public_value, "households": len(result.households),
            "wishes": len(result.outcomes), "given": sum(given_by_week.values()), "weeks": weeks,
            "without_place": [{"id": h, "name": names.get(h, ""), "points": result.households[h]["points"],
                               "rank": result.households[h]["rank"]} for h in without],
            "by_points": group_by(lambda info: info["points"]),
            "by_commune": group_by(lambda info: info["city"] or _("(commune inconnue)")),
            "summary": ngettext("%(num)s famille sans aucune place", "%(num)s familles sans aucune place",
                                len(without))}


CSV_CRITERIA = {"resident": "résident", "working": "parents qui travaillent", "low_quotient": "QF sous le seuil"}
CSV_HEADER = ["foyer", "nom", "critères", "points", "rang au tirage", "enfant", "vœu n°", "semaine", "tour",
              "résultat", "motif"]


def csv_rows(period_id: Any) -> list[list[Any]]:
    """The published allocation, one line per wish (household, criteria, points, rank, wish, result)."""
    period = wishes_period(period_id)
    found = _run(period.id)
    if found is None:
        raise NotFound(_("L'attribution de cette période n'est pas encore publiée."), code="not_published")
    _run_row, data = found
    wishes = {w.id: w for w in db.session.execute(select(Wish).where(Wish.period_id == period.id)).scalars()}
    weeks = {w.id: w.label for w in db.session.execute(select(Week).where(Week.period_id == period.id)).scalars()}
    children = {c.id: c.first_name for c in db.session.execute(
        select(Child).where(Child.id.in_({w.child_id for w in wishes.values()} or {0}))).scalars()}
    names = dict(db.session.execute(select(Household.id, Household.name).where(
        Household.id.in_([int(h) for h in data["households"]] or [0]))).all())
    rows = []
    for o in sorted(data["wishes"], key=lambda o: (o["order"], o["child_id"], o["wish_id"])):
        info = data["households"][str(o["household_id"])]
        wish = wishes.get(o["wish_id"])
        reason = _reason_text(o, data.get("blocked", {}).get(str(o["wish_id"]))) if o["reason"] else ""
        rows.append([o["household_id"], names.get(o["household_id"], ""),
                     " + ".join(_(CSV_CRITERIA.get(c, c)) for c in info["criteria"]), o["points"],
                     info["rank"], children.get(o["child_id"], ""), wish.rank if wish else "", weeks.get(o["week_id"]),
                     o["round"], "attribuée" if o["outcome"] == core.GIVEN else "refusée", reason])
    return rows


def staff_campaigns() -> list[dict]:
    """Staff's list of periods opened by wishes: window, wishes and families so far, publication."""
    from sqlalchemy import func

    from app.models import OpeningMode, Period

    periods = db.session.execute(select(Period).where(Period.opening_mode == OpeningMode.WISHES)
                                 .order_by(Period.starts_on.desc(), Period.id.desc())).scalars().all()
    ids = [p.id for p in periods] or [0]
    counts = {pid: (n, h) for pid, n, h in db.session.execute(
        select(Wish.period_id, func.count(Wish.id), func.count(func.distinct(Wish.household_id)))
        .where(Wish.period_id.in_(ids)).group_by(Wish.period_id)).all()}
    runs = {r.period_id: r for r in db.session.execute(
        select(AllocationRun).where(AllocationRun.period_id.in_(ids))).scalars()}
    return [{"period": p, "wishes": counts.get(p.id, (0, 0))[0], "households": counts.get(p.id, (0, 0))[1],
             "run": runs.get(p.id)} for p in periods]


def staff_campaign(period_id: Any, now=None) -> dict:
    """One campaign for staff: the period, its rules (frozen or not), wishes so far, the run if published."""
    from sqlalchemy import func

    from app.models import utcnow

    now = now or utcnow()
    period = wishes_period(period_id)
    rules = period_rules(period.id)
    wishes, households = db.session.execute(
        select(func.count(Wish.id), func.count(func.distinct(Wish.household_id))).where(
            Wish.period_id == period.id)).one()
    found = _run(period.id)
    return {"period": period, "rules": rules, "criteria": rule_lines(rules),
            "public_value_source": public_value_source(period.id),
            "frozen": period.wishes_open_at is not None and now >= period.wishes_open_at,
            "closed": period.wishes_close_at is not None and now >= period.wishes_close_at,
            "wishes": wishes, "households": households, "run": found[0] if found else None,
            "given": sum(1 for o in found[1]["wishes"] if o["outcome"] == core.GIVEN) if found else 0}
