"""Authorisations (issue 19): staff define the consent questions (« peut rentrer seul », « peut
descendre seul à l'arrêt du car », baignade, sorties, intervention médicale d'urgence, droit à
l'image…), for every establishment or one kind only; each household answers yes or no per child, and
the answer keeps its date and who gave it (audited). Staff's screens and lists read `for_children`.

One function per rule, called by the parent page, the parent API and staff's form alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import ChildConsent, ConsentQuestion, Household, db, utcnow
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.household.links import child_link

KIND_LABELS = {"all": "Tous les accueils", "alsh": "Accueils de loisirs", "sejour": "Séjours"}
YES = ("oui", "yes", "true", "1", "on")
NO = ("non", "no", "false", "0")


def questions(active_only: bool = True) -> list[ConsentQuestion]:
    query = select(ConsentQuestion).order_by(ConsentQuestion.position, ConsentQuestion.id)
    if active_only:
        query = query.where(ConsentQuestion.active.is_(True))
    return list(db.session.execute(query).scalars())


def field_name(question: ConsentQuestion) -> str:
    return f"q{question.id}"


def save_question(data: Mapping[str, Any], staff, question_id: int | None = None) -> ConsentQuestion:
    errors: dict[str, str] = {}
    label = (data.get("label") or "").strip()
    if not label or len(label) > 300:
        errors["label"] = _("Écrivez la question telle que les familles la liront (300 caractères au plus).")
    kind = data.get("establishment_kind") or "all"
    if kind not in KIND_LABELS:
        errors["establishment_kind"] = _("Choisissez pour quels accueils la question est posée.")
    position = str(data.get("position") or "0").strip()
    if not (position.isascii() and position.isdigit()) or int(position) > 1000:
        errors["position"] = _("Indiquez un ordre entre 0 et 1000.")
    if errors:
        raise ValidationFailed(_("Certaines valeurs ne conviennent pas : corrigez les champs signalés."),
                               code="invalid", errors=errors)
    values = {"label": label, "help_text": (data.get("help_text") or "").strip()[:2000] or None,
              "establishment_kind": kind, "on_bus_list": _checked(data.get("on_bus_list")),
              "active": _checked(data.get("active")) if question_id else True, "position": int(position)}
    if question_id is None:
        question = ConsentQuestion(**values)
        db.session.add(question)
        before = None
    else:
        found = db.session.get(ConsentQuestion, question_id)
        if found is None:
            raise NotFound(_("Question introuvable."), code="not_found")
        question = found
        before = {key: getattr(question, key) for key in values}
        for key, value in values.items():
            setattr(question, key, value)
    db.session.flush()
    audit.record("consent_question.saved", "consent_question", question.id, actor=staff, before=before, after=values)
    db.session.commit()
    return question


def _checked(value) -> bool:
    return str(value or "").strip().lower() in YES


@dataclass(frozen=True)
class Answer:
    question: ConsentQuestion
    granted: bool | None  # None: not answered yet
    answered_at: Any = None


def answers(household: Household, child_id: int) -> list[Answer]:
    """This household's answers for its child, one per active question (unanswered ones too)."""
    child_link(household.id, child_id)  # another household's child: NotFound
    given = {c.question_id: c for c in db.session.execute(select(ChildConsent).where(
        ChildConsent.household_id == household.id, ChildConsent.child_id == child_id)).scalars()}
    return [Answer(q, given[q.id].granted if q.id in given else None,
                   given[q.id].answered_at if q.id in given else None) for q in questions()]


def set_answers(household: Household, child_id: int, data: Mapping[str, Any], actor=None) -> list[Answer]:
    """Every active question answered « oui » or « non » (fields q<id>); nothing is saved unless all are."""
    child_link(household.id, child_id)
    asked = questions()
    errors: dict[str, str] = {}
    chosen: dict[int, bool] = {}
    for question in asked:
        raw = str(data.get(field_name(question)) if data.get(field_name(question)) is not None else "").strip().lower()
        if raw in YES:
            chosen[question.id] = True
        elif raw in NO:
            chosen[question.id] = False
        else:
            errors[field_name(question)] = _("Répondez oui ou non.")
    if errors:
        raise ValidationFailed(_("Répondez à chaque question par oui ou par non. Rien n'a été enregistré."),
                               code="invalid", errors=errors)
    existing = {c.question_id: c for c in db.session.execute(select(ChildConsent).where(
        ChildConsent.household_id == household.id, ChildConsent.child_id == child_id)).scalars()}
    before, after = {}, {}
    now = utcnow()
    for question in asked:
        granted = chosen[question.id]
        row = existing.get(question.id)
        if row is not None and row.granted == granted:
            continue
        before[question.label] = None if row is None else row.granted
        after[question.label] = granted
        if row is None:
            db.session.add(ChildConsent(household_id=household.id, child_id=child_id, question_id=question.id,
                                        granted=granted, answered_at=now, answered_by_id=getattr(actor, "id", None)))
        else:
            row.granted, row.answered_at, row.answered_by_id = granted, now, getattr(actor, "id", None)
    if after:
        audit.record("consents.updated", "child", child_id, actor=actor, household_id=household.id,
                     before=before, after=after)
    db.session.commit()
    return answers(household, child_id)


def for_children(child_ids) -> dict[int, list[tuple[str, bool, bool]]]:
    """{child id: [(question, granted, on bus list)]} over all the child's households (the latest
    answer per question), for staff's lists. One query; `child_ids` is a list or a sub-query (the
    lists select by sub-query so that their cost does not depend on the number of children)."""
    if isinstance(child_ids, (list, tuple, set)) and not child_ids:
        return {}
    rows = db.session.execute(
        select(ChildConsent, ConsentQuestion).join(ConsentQuestion, ConsentQuestion.id == ChildConsent.question_id)
        .where(ChildConsent.child_id.in_(child_ids), ConsentQuestion.active.is_(True))
        .order_by(ConsentQuestion.position, ConsentQuestion.id, ChildConsent.answered_at)).all()
    latest: dict[tuple[int, int], tuple[str, bool, bool]] = {}
    for consent, question in rows:
        latest[(consent.child_id, question.id)] = (question.label, consent.granted, question.on_bus_list)
    result: dict[int, list[tuple[str, bool, bool]]] = {}
    for (child_id, _question_id), value in latest.items():
        result.setdefault(child_id, []).append(value)
    return result
