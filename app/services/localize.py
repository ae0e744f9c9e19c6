"""French formatting in one place: Paris time, dates and euros the way French people read them.

Used by services (mails, CSV, messages) and registered as Jinja filters by `app.views.filters`."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def to_paris(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def euros(cents: int | None) -> str:
    """1234 -> '12,34 €' (non-breaking spaces, French decimal comma)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    whole = f"{cents // 100:,}".replace(",", "\u202f")
    return f"{sign}{whole},{cents % 100:02d}\u00a0€"


def date_fr(value: date | datetime | None, with_weekday: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_paris(value)
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    return f"{DAYS[value.weekday()]} {text}" if with_weekday else text


def datetime_fr(value: datetime | None) -> str:
    if value is None:
        return ""
    local = to_paris(value)
    return f"{date_fr(local)} à {local:%H:%M}"


# --- Labels: one table per concept, read by pages, receipts, CSV files, mails and services ------
# Two copies of a table drift apart (« non payé » / « non payée », « Chèques vacances » /
# « Chèques-vacances »): every reader imports the table from here. The grammatical gender follows
# the noun the label describes: a réservation, an inscription are feminine; a panier, a paiement,
# a dossier are masculine.

# How a payment was made (Payment.method). « Chèques-Vacances » is the ANCV's registered name.
PAYMENT_METHOD_LABELS = {
    "card": "Carte bancaire (en ligne)",
    "cash": "Espèces",
    "cheque": "Chèque",
    "cheques_vacances": "Chèques-Vacances",
    "card_terminal": "Carte bancaire (guichet)",
    "free": "Gratuit",
}
# The methods the régie accepts at the desk, in the order the agent's form offers them.
DESK_PAYMENT_METHODS = ("cash", "cheque", "cheques_vacances", "card_terminal")

PAYMENT_STATUS_LABELS = {
    "pending": "En attente",
    "paid": "Payé",
    "failed": "Échoué",
    "expired": "Expiré",
    "refunded": "Remboursé",
    "partially_refunded": "Remboursé en partie",
}
PAYMENT_PROVIDER_LABELS = {
    "stripe": "Stripe (carte en ligne)",
    "payfip": "PayFiP (carte en ligne, Trésor public)",
    "sandbox": "Paiement de test",
    "desk": "Guichet",
    "free": "Gratuit",
}
REFUND_STATUS_LABELS = {"pending": "En attente du prestataire", "succeeded": "Effectué", "failed": "Refusé"}

BASKET_STATUS_LABELS = {
    "open": "Ouvert",
    "checkout": "Paiement en cours",
    "paid": "Payé",
    "expired": "Expiré",
    "cancelled": "Annulé",
}
# A reservation (feminine): « non payée ».
RESERVATION_STATUS_LABELS = {
    "held": "Dans un panier (non payée)",
    "confirmed": "Confirmée",
    "expired": "Expirée",
    "removed": "Retirée du panier",
    "cancelled": "Annulée",
}
TRANSPORT_MODE_LABELS = {"bus": "Bus", "onsite": "Sur site"}

# The household file's status as staff lists show it (the parent's page explains each one at length).
HOUSEHOLD_STATUS_LABELS = {
    "draft": "Brouillon",
    "submitted": "Envoyé, à vérifier",
    "validated": "Validé",
    "incomplete": "Incomplet",
}
# A child ↔ household link, in a column already titled « Rattachement ».
CHILD_LINK_STATUS_LABELS = {"pending": "À confirmer", "validated": "Confirmé", "refused": "Refusé"}

# A proof document (une pièce: feminine).
DOCUMENT_STATUS_LABELS = {"pending": "À vérifier", "accepted": "Acceptée", "refused": "Refusée"}

MAIL_STATUS_LABELS = {"queued": "En attente d'envoi", "sent": "Envoyé", "failed": "Échec"}
# The fields that audit entries record before/after, for the staff's « Historique ».
AUDIT_FIELD_LABELS = {
    "email": "E-mail", "phone": "Téléphone", "address_line": "Adresse", "postcode": "Code postal",
    "city": "Commune", "caf_number": "N° allocataire CAF", "no_caf_number": "Pas de numéro CAF",
    "declared_quotient": "QF déclaré", "quotient": "QF retenu", "separated_parents": "Parents séparés",
    "status": "Statut", "first_name": "Prénom", "last_name": "Nom", "relationship_label": "Lien",
    "employer": "Employeur", "birth_date": "Date de naissance", "sex": "Sexe", "school": "École",
    "school_level": "Classe", "image_rights": "Droit à l'image", "allergies": "Allergies", "diet": "Régime",
    "pai": "PAI", "pai_details": "Détails du PAI", "medical_notes": "Remarques médicales",
    "doctor_name": "Médecin traitant", "doctor_phone": "Téléphone du médecin",
    "vaccinations_up_to_date": "Vaccinations à jour", "kind": "Type de pièce", "name": "Nom",
    "child_id": "Enfant (n°)", "reasons": "Motifs", "note": "Message", "value": "Valeur",
    "valid_from": "Valable du", "valid_to": "Valable jusqu'au", "source": "Source",
    "original_name": "Fichier", "refusal_reason": "Motif du refus", "week_id": "Semaine (n°)",
    "stop_id": "Arrêt (n°)", "transport_mode": "Transport", "price_cents": "Prix", "bus_price_cents": "Prix du bus",
}

# What a mail was about (MailLog.kind), for the staff's mail log.
MAIL_KIND_LABELS = {
    "account_confirmation": "Confirmation de création de compte",
    "account_exists": "Compte déjà existant",
    "password_reset": "Réinitialisation du mot de passe",
    "password_changed": "Mot de passe modifié",
    "household_invitation": "Invitation à rejoindre le portail",
    "dossier_received": "Dossier famille reçu",
    "dossier_validated": "Dossier famille validé",
    "dossier_incomplete": "Dossier famille incomplet",
    "dossier_child_link": "Rattachement d'un enfant",
    "staff_digest": "Récapitulatif des dossiers en attente",
    "basket_expired": "Panier expiré",
    "payment_confirmation": "Confirmation de paiement",
    "payment_cancellation": "Paiement annulé",
    "payment_late_refunded": "Paiement tardif remboursé",
    "payment_duplicate_refunded": "Paiement en double remboursé",
    "reservation_moved": "Inscription déplacée",
    "reservation_cancelled": "Inscription annulée",
    "cancellation_requested": "Demande d'annulation reçue",
    "cancellation_refused": "Demande d'annulation refusée",
    "credit_changed": "Avoir modifié par le Pôle Jeunesse",
    "waitlist_offer": "Place proposée (liste d'attente)",
    "allocation_result": "Résultat de l'attribution sur vœux",
    "allocation_offer": "Place attribuée sur vœux (à payer)",
    "test_mail": "Message de test",
    "absence_credit": "Avoir pour absence justifiée",
}

# What an audit entry records (AuditLog.action), as the file's history shows it to staff.
AUDIT_ACTION_LABELS = {
    "account.confirmed": "Compte activé", "household.created": "Dossier créé",
    "household.updated": "Foyer modifié", "household.submitted": "Dossier envoyé",
    "household.back_to_review": "Dossier validé modifié : renvoyé en vérification",
    "household.validated": "Dossier validé", "household.incomplete": "Dossier marqué incomplet",
    "guardian.added": "Responsable ajouté", "guardian.updated": "Responsable modifié",
    "guardian.removed": "Responsable retiré", "child.added": "Enfant ajouté", "child.updated": "Enfant modifié",
    "child.removed": "Enfant retiré",
    "child.shared_request": "Enfant déjà connu d'un autre foyer : rattachement demandé",
    "child.health_updated": "Fiche sanitaire modifiée", "child_link.validated": "Rattachement confirmé",
    "child_link.refused": "Rattachement refusé", "pickup.added": "Personne autorisée ajoutée",
    "pickup.removed": "Personne autorisée retirée", "document.uploaded": "Pièce envoyée",
    "document.deleted": "Pièce supprimée", "document.refused": "Pièce refusée",
    "document.accepted": "Pièces acceptées",
    "household.reopened": "Dossier validé rouvert par le Pôle Jeunesse",
    "household.created_at_desk": "Dossier créé au guichet", "quotient.recorded": "QF enregistré",
    "invitation.sent": "Invitation envoyée", "invitation.claimed": "Compte rattaché par l'invitation",
    "invitation.revoked": "Invitation annulée",
}

# Where a QF was read (QuotientRecord.source).
QUOTIENT_SOURCE_LABELS = {"caf": "Attestation CAF", "msa": "Attestation MSA", "tax_notice": "Avis d'imposition"}


# A household's benefit scheme (Household.benefit_scheme), as the CAF export and the file show it.
BENEFIT_SCHEME_LABELS = {"caf": "CAF", "msa": "MSA", "other": "Autre régime"}
# Issue 18's audit actions (attendance, boarding, open days), read with AUDIT_ACTION_LABELS.
ATTENDANCE_AUDIT_LABELS = {
    "attendance.ticked": "Présence pointée", "attendance.corrected": "Heures réalisées corrigées",
    "boarding.ticked": "Montée dans le car pointée", "establishment.hours_set": "Horaires de l'accueil modifiés",
    "establishment.day_set": "Jour d'ouverture modifié",
    "attendance.absence_credited": "Avoir pour absence justifiée", "animator.assigned": "Animateur affecté",
    "animator.unassigned": "Affectation d'animateur retirée",
}
AUDIT_ACTION_LABELS.update(ATTENDANCE_AUDIT_LABELS)


def label(table: dict[str, str], code: str | None) -> str:
    """The French label of `code`, or the code itself when the table does not know it (a new
    status shows up readable rather than as an error)."""
    if code is None:
        return ""
    return table.get(code, code)
