"""The Pôle Jeunesse's contact details, read once from the settings (POLE_PHONE, POLE_EMAIL, POLE_HOURS).

Many messages end with « contactez le Pôle Jeunesse »: the parent footer, the error pages and every
mail give the number, the address and the opening hours from here, so a change is one setting.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class PoleContact:
    phone: str
    email: str
    hours: str

    @property
    def phone_href(self) -> str:
        """tel: link target (digits and a leading +), so a phone dials it in one tap."""
        return "tel:" + "".join(ch for ch in self.phone if ch.isdigit() or ch == "+")

    def text(self) -> str:
        """One French line, for plain-text mails."""
        parts = [f"Tél. {self.phone}" if self.phone else "", self.email, self.hours]
        return "Pôle Jeunesse — " + " · ".join(p for p in parts if p)


def pole_contact() -> PoleContact:
    config = current_app.config
    return PoleContact(phone=config.get("POLE_PHONE") or "", email=config.get("POLE_EMAIL") or "",
                       hours=config.get("POLE_HOURS") or "")
