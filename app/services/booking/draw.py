"""The draw that breaks ties between households of equal priority, recomputable by anyone.

Why this shape (docs/allocation.md has the worked example):
- the seed cannot be chosen by staff after seeing the wishes: it is the SHA-256 of a public value
  announced in advance but unknown until after the window closes (e.g. a public lottery's numbers)
  together with the sorted list of wish ids, which fixes the set of wishes the draw applies to;
- a household's rank is the order of HMAC-SHA-256(seed, household id): nothing about the household
  but its id enters, and the same published data gives the same ranks on any computer.

Exactly: seed = sha256(utf8(public_value.strip() + "|" + ",".join(str(id) for id in sorted(wish_ids)))),
hex; key = bytes.fromhex(seed); score(h) = hmac_sha256(key, ascii(str(h))), hex; households sorted by
(score, id) ascending; rank 1 = the smallest score.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable


def draw_seed(public_value: str, wish_ids: Iterable[int]) -> str:
    """Hex SHA-256 of the public value and the sorted wish ids."""
    material = public_value.strip() + "|" + ",".join(str(wish_id) for wish_id in sorted(int(w) for w in wish_ids))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def household_score(seed: str, household_id: int) -> str:
    """Hex HMAC-SHA-256 of the household id under the seed."""
    return hmac.new(bytes.fromhex(seed), str(int(household_id)).encode("ascii"), hashlib.sha256).hexdigest()


def draw_ranks(seed: str, household_ids: Iterable[int]) -> dict[int, int]:
    """Household id → draw rank (1 = first), over the distinct ids given."""
    ordered = sorted({int(h) for h in household_ids}, key=lambda h: (household_score(seed, h), h))
    return {household_id: position for position, household_id in enumerate(ordered, start=1)}
