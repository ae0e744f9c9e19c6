"""The accessibility statement lists only the pages the browser journeys check (axe-core via `shots`):
each page it names is tied here to a shot of tests/e2e, and it no longer claims « toutes les pages »."""
from __future__ import annotations

import pathlib
import re

E2E = pathlib.Path(__file__).resolve().parent / "e2e"

# page named on the statement -> a `shots` label of a journey that passes through it
NAMED_AND_SHOT = {
    "nouveau mot de passe": "nouveau mot de passe",
    "changement de mot de passe": "changer de mot de passe",
    "salle d'attente": "salle d'attente",
    "autorisations": "autorisations",
    "annulation d'une semaine": "annulee avec avoir",
    "mes avoirs": "mes avoirs",
    "mes factures": "mes factures",
    "attestation de frais de garde": "attestation de frais de garde",
    "agenda": "agenda avec son lien",
    "listes d'attente et place proposée": "place proposee",
    "règles d'attribution": "regles d attribution",
    "mes données": "mes donnees",
    "accès créé au guichet": "acces cree",
    "dossier papier": "guichet dossier papier complet",
    "attribution sur vœux": "agent attribution publiee",
    "écran de la salle d'attente": "ecran du personnel",
    "accueils et périodes": "period list",
    "feuille de présence": "feuille de presence en ligne",
    "hors connexion": "deux pointages hors connexion",
}


def _shot_labels() -> set[str]:
    labels: set[str] = set()
    for source in E2E.glob("*.py"):
        labels |= set(re.findall(r"shots\(\w+, \"([^\"]+)\"", source.read_text(encoding="utf-8")))
    return labels


def test_statement_names_the_pages_the_journeys_check(client):
    from app.views.accessibility import AUDIT

    shot = _shot_labels()
    for named, label in NAMED_AND_SHOT.items():
        assert named in AUDIT["pages"], f"the statement should name « {named} »"
        assert label in shot, f"no e2e journey shoots « {label} » any more: « {named} » must leave the statement"
    page = client.get("/accessibilite/").get_data(as_text=True).replace("&#39;", "'")
    assert "toutes les pages" not in page
    assert "mes factures" in page and "listes d'attente" in page
