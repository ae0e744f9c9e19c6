"""The published priority criteria of a wish campaign: what each one means, and who meets it.

Why each criterion is read from data the portal holds or collects with proof, never from a
declaration: the points decide who gets a place, so every family's points must be checkable by
staff and explainable to the family (« 30 points : résident (10), parents qui travaillent (20) »).

- resident: the household's city is one of the listed communes of the intercommunality (compared
  without accents, case, hyphens or « Saint »/« St » differences);
- working: every guardian of the household has an employer filled in and the household has at least
  as many accepted employer attestations as guardians;
- sibling: a sibling (same household) already has the same week when the round begins (decided
  inside the allocation, `allocation.py`);
- no previous week: the child had no confirmed week in the previous period of the same
  establishment (the one that started last before this one); nobody gets it when there is none;
- low quotient: the household's QF, as set by staff, is strictly under the threshold.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

RESIDENT = "resident"
WORKING = "working"
SIBLING = "sibling"
NO_PREVIOUS_WEEK = "no_previous_week"
LOW_QUOTIENT = "low_quotient"
CRITERIA = (RESIDENT, WORKING, SIBLING, NO_PREVIOUS_WEEK, LOW_QUOTIENT)


@dataclass(frozen=True)
class Rules:
    resident_points: int = 0
    resident_communes: tuple[str, ...] = ()
    working_points: int = 0
    sibling_points: int = 0
    no_previous_week_points: int = 0
    low_quotient_points: int = 0
    quotient_threshold: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"resident_points": self.resident_points, "resident_communes": list(self.resident_communes),
                "working_points": self.working_points, "sibling_points": self.sibling_points,
                "no_previous_week_points": self.no_previous_week_points,
                "low_quotient_points": self.low_quotient_points, "quotient_threshold": self.quotient_threshold}

    def points_of(self, criterion: str) -> int:
        return {RESIDENT: self.resident_points, WORKING: self.working_points, SIBLING: self.sibling_points,
                NO_PREVIOUS_WEEK: self.no_previous_week_points, LOW_QUOTIENT: self.low_quotient_points}[criterion]


@dataclass(frozen=True)
class HouseholdFacts:
    household_id: int
    city: str | None
    guardians_with_employer: int
    guardians: int
    employer_attestations: int  # accepted ones
    quotient: int | None


def commune_key(name: str | None) -> str:
    """« Saint-Jean-de-Luz », « ST JEAN DE LUZ » and « saint jean de luz » are the same commune."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    words = "".join(ch if ch.isalnum() else " " for ch in text).split()
    return " ".join("saint" if w == "st" else "sainte" if w == "ste" else w for w in words)


def parse_communes(text: str | None) -> tuple[str, ...]:
    """One commune a line (commas accepted too); blank lines and duplicates dropped, order kept."""
    seen: dict[str, str] = {}
    for raw in (text or "").replace(",", "\n").splitlines():
        name = " ".join(raw.split())
        if name and commune_key(name) not in seen:
            seen[commune_key(name)] = name
    return tuple(seen.values())


def is_resident(facts: HouseholdFacts, rules: Rules) -> bool:
    return bool(facts.city) and commune_key(facts.city) in {commune_key(c) for c in rules.resident_communes}


def all_working(facts: HouseholdFacts) -> bool:
    return facts.guardians > 0 and facts.guardians_with_employer == facts.guardians \
        and facts.employer_attestations >= facts.guardians


def low_quotient(facts: HouseholdFacts, rules: Rules) -> bool:
    return rules.quotient_threshold is not None and facts.quotient is not None \
        and facts.quotient < rules.quotient_threshold


def household_criteria(facts: HouseholdFacts, rules: Rules) -> list[str]:
    """The household-level criteria met, in the published order (points given or not)."""
    met = []
    if is_resident(facts, rules):
        met.append(RESIDENT)
    if all_working(facts):
        met.append(WORKING)
    if low_quotient(facts, rules):
        met.append(LOW_QUOTIENT)
    return met


def household_points(facts: HouseholdFacts, rules: Rules) -> int:
    return sum(rules.points_of(c) for c in household_criteria(facts, rules))
