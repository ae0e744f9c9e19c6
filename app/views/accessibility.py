"""« Déclaration d'accessibilité » (RGAA): the statement a French public service must publish, with
the result measured by the automated check of the browser journeys (axe-core) once it runs.

Public (no permission declared: app.security classifies it PUBLIC): the statement is read before
logging in too, and its link sits in the parent footer.
"""
from __future__ import annotations

from flask_appbuilder import BaseView, expose

# What the automated check measured, shown as is on the statement: the axe-core check of the browser
# journeys (tests/e2e/conftest.py, Shots) fails on any serious or critical violation, so a green run
# of tests/e2e measures 0. Update the date (and the count, if a violation is ever let through) after
# a run on the version being published.
AUDIT: dict = {
    "date": "6 décembre 2026",
    "tool": "axe-core 4.14 (règles WCAG 2.1 A et AA), Chromium, à 375 px et à 1280 px",
    "serious_or_critical": 0,
    # Only pages a journey of tests/e2e actually passes through `shots` (tests/test_accessibility_statement.py
    # ties each name to its shot): add a page here when a journey shoots it, never before.
    "pages": ("création de compte, connexion, mot de passe oublié, nouveau mot de passe (lien reçu par "
              "e-mail), changement de mot de passe, salle d'attente, accueil, dossier famille (foyer, "
              "responsables, enfants et personnes autorisées, fiche sanitaire, autorisations, pièces), "
              "inscription (enfant, accueils, semaines et transport), panier (compte à rebours, avoir déduit, "
              "panier expiré), paiement, mes inscriptions, annulation d'une semaine, mes avoirs, reçus, mes "
              "factures, attestation de frais de garde, agenda, listes d'attente et place proposée, vœux et "
              "règles d'attribution, mes données, accès créé au guichet, déclaration d'accessibilité ; pour "
              "le Pôle Jeunesse : file et revue des dossiers, tableau de bord, listes d'appel, sur place et "
              "du bus, paiements, présences, animateurs, guichet (recherche, foyer, dossier papier), listes "
              "d'attente, annulations, journal des mails, foyers, attribution sur vœux, écran de la salle "
              "d'attente, accueils et périodes ; pages des animateurs (feuille de présence, hors connexion)"),
}


class AccessibilityView(BaseView):
    route_base = "/accessibilite"
    default_view = "statement"

    @expose("/")
    def statement(self):
        return self.render_template("public/accessibility.html", audit=AUDIT)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(AccessibilityView())
