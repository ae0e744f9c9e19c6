"""French formatting in one place: Paris time, dates and euros the way French people read them.

Used by services (mails, CSV, messages) and registered as Jinja filters by `app.views.filters`."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def to_paris(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def paris_today(now: datetime | None = None) -> date:
    """The day it is in Paris (`now`, else the clock): the portal's calendar, whatever the server's time zone."""
    return (now or datetime.now(timezone.utc)).astimezone(PARIS).date()


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
    "credit": "Payé par avoir",  # a basket the household's credit covered in full: nothing cashed
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
# The other fields audit entries record (bookings, payments, credits, catalogue, waiting lists…).
AUDIT_FIELD_LABELS.update({
    "accounting_kept": "Conservé pour la comptabilité", "active": "Actif", "address": "Adresse",
    "age_max": "Âge maximum", "age_min": "Âge minimum", "amount_cents": "Montant", "applied": "Appliqué",
    "attempt": "Tentative", "auth_stamp": "Jeton de connexion", "basket_id": "Panier (n°)",
    "because": "Partie modifiée", "benefit_scheme": "Régime", "by_staff": "Par le Pôle Jeunesse",
    "cancel_reason": "Motif de l'annulation", "capacity": "Places", "card_cents": "Payé par carte",
    "checkout_expires_at": "Page de paiement valable jusqu'au", "checkout_url": "Adresse de la page de paiement",
    "children_emptied": "Enfants retirés", "circuit_id": "Circuit (n°)", "closes_at": "Fermeture",
    "commune": "Commune", "confirmed_at": "Confirmé le", "contact": "Contact", "content_type": "Format du fichier",
    "created_at": "Créé le", "created_by_id": "Créé par (n°)", "credit_cents": "Payé par avoir",
    "credit_note": "Avoir", "credit_notes": "Avoirs", "currency": "Devise", "cutoff_days": "Clôture (jours avant)",
    "day": "Jour", "deadline": "Date limite", "decided_at": "Décidé le", "decided_by_id": "Décidé par (n°)",
    "decision_note": "Motif de la décision", "description": "Description", "desk": "Au guichet",
    "details_requested_at": "RIB demandé le", "document_id": "Pièce (n°)", "document_ids": "Pièces (n°)",
    "documents": "Pièces", "done_at": "Fait le", "done_by_id": "Fait par (n°)", "dropoff_time": "Heure de dépose",
    "duplicate_id": "Doublon (n°)", "end_reason": "Motif de fin", "ended_at": "Terminé le",
    "ends_on": "Dernier jour", "entered_by_id": "Saisi par (n°)", "entry_id": "Inscription en liste (n°)",
    "erased_at": "Effacé le", "error": "Erreur", "establishment_id": "Accueil (n°)", "event": "Événement",
    "expired_at": "Expiré le", "expires_at": "Expire le", "filled": "Rempli", "flag_reason": "Alerte",
    "flagged": "Alerte à traiter", "given": "Donné", "guardian": "Responsable",
    "health_updated_at": "Fiche sanitaire modifiée le", "hold_expires_at": "Réservée jusqu'au",
    "household_id": "Dossier (n°)", "households_asked": "Foyers sollicités", "incomplete_note": "Message (incomplet)",
    "incomplete_reasons": "Motifs (incomplet)", "is_open": "Ouvert", "issued_at": "Émis le",
    "joined_at": "Inscrit le", "kept_id": "Enfant conservé (n°)", "label": "Libellé", "lazy": "Différé",
    "logo_bytes": "Logo (octets)", "manual": "Manuel", "max_weeks_per_child": "Semaines maximum par enfant",
    "meal_share_cents": "Part repas", "method": "Moyen de paiement", "mode": "Transport", "moved": "Déplacé",
    "number": "Numéro", "offer_hours": "Délai pour payer (heures)", "offer_id": "Proposition (n°)",
    "offer_outcome": "Issue de la proposition", "opening_mode": "Mode d'ouverture", "opens_at": "Ouverture",
    "outcome": "Issue", "owner_id": "Propriétaire (n°)", "paid_at": "Payé le", "payer_address": "Adresse du payeur",
    "payer_name": "Payeur", "payfip_idop": "Référence PayFiP", "payment_id": "Paiement (n°)",
    "payment_method": "Moyen de paiement", "payment_provider": "Prestataire de paiement", "per_child": "Par enfant",
    "period_id": "Période (n°)", "pickup_time": "Heure de prise en charge", "position": "Rang",
    "provider": "Prestataire de paiement", "provider_message": "Message du prestataire",
    "provider_payment_ref": "Référence du paiement chez le prestataire",
    "provider_ref": "Référence de la page de paiement", "public_value": "Valeur affichée", "qf_max": "QF maximum",
    "qf_min": "QF minimum", "reason": "Motif", "refdet": "Référence de la dette", "refund_cents": "Remboursé",
    "refund_id": "Remboursement (n°)", "refund_key": "Clé du remboursement", "refunded_cents": "Déjà remboursé",
    "regie_name": "Nom de la régie", "regie_number": "N° de la régie", "released_lines": "Semaines libérées",
    "replaced": "Remplacé", "reservation_id": "Inscription (n°)", "results_at": "Résultats le",
    "rules": "Règles", "run_id": "Attribution (n°)", "seats": "Places dans le car", "seed": "Tirage",
    "sequence": "Ordre", "shared_request": "Rattachement demandé", "siret": "SIRET", "size_bytes": "Taille (octets)",
    "starts_on": "Premier jour", "stop_change_deadline": "Changement d'arrêt possible jusqu'au",
    "storage_key": "Fichier stocké", "submitted_at": "Envoyé le", "total_cents": "Total", "updated_at": "Modifié le",
    "uploaded_at": "Envoyée le", "user_id": "Compte (n°)", "validated_at": "Validé le",
    "validated_by_id": "Validé par (n°)", "waitlist_offer": "Place de liste d'attente", "wish_id": "Vœu (n°)",
    "wishes": "Vœux", "wishes_close_at": "Vœux jusqu'au", "wishes_open_at": "Vœux à partir du", "year": "Année",
})

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
    "document_before_opening": "Pièce à renouveler avant l'ouverture des inscriptions",
    "document_expiring": "Pièce bientôt expirée",
    "privacy_erasure_request": "Demande d'effacement des données",
    "qf_campaign": "Campagne QF : nouvelle attestation demandée",
    "qf_campaign_reminder": "Campagne QF : relance",
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
WAITLIST_STATUS_LABELS = {"waiting": "En attente", "offered": "Place proposée", "accepted": "Inscrit",
                          "lapsed": "Proposition expirée", "withdrawn": "Retiré de la liste", "closed": "Close"}
OFFER_OUTCOME_LABELS = {"pending": "En attente de paiement", "accepted": "Payée", "lapsed": "Expirée",
                        "declined": "Refusée", "withdrawn": "Retirée"}
CANCELLATION_STATUS_LABELS = {"pending": "À traiter", "accepted": "Acceptée", "refused": "Refusée"}
REGIE_REFUND_STATUS_LABELS = {"todo": "À effectuer", "details_requested": "RIB demandé", "done": "Effectué"}
# A status means something per entity (a payment's « pending » is not a document's « À vérifier »):
# the history reads the entry's entity (AuditLog.entity) to pick the table.
AUDIT_STATUS_LABELS = {
    "household": HOUSEHOLD_STATUS_LABELS, "document": DOCUMENT_STATUS_LABELS, "payment": PAYMENT_STATUS_LABELS,
    "basket": BASKET_STATUS_LABELS, "reservation": RESERVATION_STATUS_LABELS,
    "household_child": CHILD_LINK_STATUS_LABELS, "refund": REFUND_STATUS_LABELS,
    "waitlist_entry": WAITLIST_STATUS_LABELS, "cancellation_request": CANCELLATION_STATUS_LABELS,
    "regie_refund": REGIE_REFUND_STATUS_LABELS,
}
# Coded values of other fields, whatever the entity.
PAYMENT_SOURCE_LABELS = {"free": "Rien à payer", "return": "Retour de la page de paiement",
                         "sandbox": "Paiement de test", "desk": "Guichet", "webhook": "Avis du prestataire"}
RESUBMISSION_AREA_LABELS = {"address": "Adresse", "guardians": "Responsables", "documents": "Pièces",
                            "caf": "Informations CAF", "children": "Enfants"}
AUDIT_VALUE_LABELS = {
    "transport_mode": TRANSPORT_MODE_LABELS, "mode": TRANSPORT_MODE_LABELS, "method": PAYMENT_METHOD_LABELS,
    "payment_method": PAYMENT_METHOD_LABELS, "provider": PAYMENT_PROVIDER_LABELS,
    "payment_provider": PAYMENT_PROVIDER_LABELS, "source": {**QUOTIENT_SOURCE_LABELS, **PAYMENT_SOURCE_LABELS},
    "because": RESUBMISSION_AREA_LABELS, "offer_outcome": OFFER_OUTCOME_LABELS, "outcome": OFFER_OUTCOME_LABELS,
}
AUDIT_VALUE_LABELS.update({
    "opening_mode": {"first_come": "Premier arrivé, premier servi", "wishes": "Sur vœux"},
    "absence_reason": {"justified": "Justifiée", "unjustified": "Non justifiée"},
    "leg": {"morning": "Aller (matin)", "evening": "Retour (soir)"},
})
AUDIT_FIELD_LABELS.update({
    "id": "N°", "absence_reason": "Motif de l'absence", "arrived_at": "Arrivée", "left_at": "Départ",
    "corrected_minutes": "Durée corrigée (minutes)", "correction_reason": "Motif de la correction",
    "picked_up_by": "Récupéré par", "pickup_unlisted": "Personne non inscrite sur la fiche",
    "updated_by_id": "Modifié par (n°)", "boarded": "Monté", "got_off": "Descendu", "leg": "Trajet",
    "free_days_before": "Annulation gratuite jusqu'à (jours avant)",
    "late_with_justification": "Annulation tardive avec justificatif",
})
AUDIT_STATUS_LABELS.update({
    "attendance": {"present": "Présent", "absent": "Absent"},
    "basket": {**BASKET_STATUS_LABELS, "offer": "Place proposée (liste d'attente)"},
})
_CANCELLATION_OUTCOMES = {"credit": "Avoir", "refund": "Remboursement sur la carte",
                          "none": "Ni avoir ni remboursement"}
_WAITLIST_TRANSPORT = {**TRANSPORT_MODE_LABELS, "any": "Bus, ou sur site si le bus est complet"}
# A field whose name or values mean something else on one entity: (entity, field) first.
AUDIT_ENTITY_FIELD_LABELS = {("credit_note", "kind"): "Origine de l'avoir", ("reservation", "outcome"): "Suite donnée",
                             ("period", "outcome"): "Suite donnée"}
AUDIT_ENTITY_VALUE_LABELS = {
    ("credit_note", "kind"): {"cancellation": "Semaine annulée", "grant": "Accordé par le Pôle Jeunesse"},
    ("reservation", "outcome"): _CANCELLATION_OUTCOMES, ("period", "outcome"): _CANCELLATION_OUTCOMES,
    ("waitlist_entry", "transport_mode"): _WAITLIST_TRANSPORT, ("waitlist_entry", "mode"): _WAITLIST_TRANSPORT,
    ("reservation", "transport_mode"): _WAITLIST_TRANSPORT,
    ("household", "reason"): {"request": "Demande de la famille", "retention": "Fin de la durée de conservation"},
    ("payment", "reason"): {"expiry": "Page de paiement expirée", "sandbox refused": "Paiement de test refusé"},
}


# A household's benefit scheme (Household.benefit_scheme), as the CAF export and the file show it.
BENEFIT_SCHEME_LABELS = {"caf": "CAF", "msa": "MSA", "other": "Autre régime"}
AUDIT_VALUE_LABELS["benefit_scheme"] = BENEFIT_SCHEME_LABELS
# Issue 18's audit actions (attendance, boarding, open days), read with AUDIT_ACTION_LABELS.
ATTENDANCE_AUDIT_LABELS = {
    "attendance.ticked": "Présence pointée", "attendance.corrected": "Heures réalisées corrigées",
    "boarding.ticked": "Montée dans le car pointée", "establishment.hours_set": "Horaires de l'accueil modifiés",
    "establishment.day_set": "Jour d'ouverture modifié",
    "attendance.absence_credited": "Avoir pour absence justifiée", "animator.assigned": "Animateur affecté",
    "animator.unassigned": "Affectation d'animateur retirée",
}
AUDIT_ACTION_LABELS.update(ATTENDANCE_AUDIT_LABELS)
# Every other recorded action (accounts, bookings, payments, credits, catalogue, privacy…), same table.
AUDIT_ACTION_LABELS.update({
    "account.signup": "Compte créé", "account.signup_existing": "Création de compte sur une adresse déjà inscrite",
    "account.password_changed": "Mot de passe modifié", "account.password_reset": "Mot de passe réinitialisé",
    "account.password_reset_requested": "Réinitialisation du mot de passe demandée",
    "allocation.published": "Attribution sur vœux publiée",
    "allocation.dry_run": "Attribution sur vœux simulée", "allocation.rules": "Règles d'attribution modifiées",
    "wish.saved": "Vœux enregistrés",
    "basket.opened": "Panier ouvert", "basket.checkout": "Panier en cours de paiement",
    "basket.checkout_released": "Paiement abandonné : panier rouvert", "basket.emptied": "Panier vidé",
    "basket.expired": "Panier expiré", "basket.paid": "Panier payé",
    "basket.late_payment_refused": "Paiement arrivé trop tard : remboursé",
    "reservation.held": "Semaine mise dans le panier", "reservation.confirmed": "Inscription confirmée",
    "reservation.expired": "Semaine retirée (panier expiré)", "reservation.removed": "Semaine retirée du panier",
    "reservation.cancelled": "Inscription annulée", "reservation.moved": "Inscription déplacée",
    "reservation.repriced": "Prix de la semaine recalculé", "reservation.transport_changed": "Transport modifié",
    "waitlist.joined": "Inscription sur liste d'attente", "waitlist.offered": "Place proposée (liste d'attente)",
    "waitlist.offer_claimed": "Place proposée mise au panier", "waitlist.offer_accepted": "Place proposée payée",
    "waitlist.offer_lapsed": "Place proposée non payée à temps", "waitlist.offer_declined": "Place proposée refusée",
    "waitlist.offer_withdrawn": "Proposition retirée par le Pôle Jeunesse",
    "waitlist.withdrawn": "Retrait de la liste d'attente", "waitlist.closed": "Liste d'attente close pour l'enfant",
    "waitlist.lapsed": "Place proposée non payée à temps", "waitlist.accepted": "Place de liste d'attente payée",
    "waitlist.settings": "Réglages de la liste d'attente modifiés",
    "cancellation.requested": "Annulation demandée", "cancellation.accepted": "Annulation acceptée",
    "cancellation.refused": "Annulation refusée", "cancellation_rules.updated": "Règles d'annulation modifiées",
    "payment.created": "Paiement commencé", "payment.checkout_opened": "Page de paiement ouverte",
    "payment.checkout_refused": "Page de paiement refusée par le prestataire",
    "payment.checkout_closed": "Page de paiement fermée", "payment.processing": "Paiement en cours de traitement",
    "payment.expired": "Paiement expiré", "payment.failed": "Paiement échoué",
    "payment.paid": "Paiement reçu",
    "payment.late_paid": "Paiement arrivé après l'expiration", "payment.late_refunded": "Paiement tardif remboursé",
    "payment.duplicate_refunded": "Paiement en double remboursé", "payment.refunded": "Paiement remboursé",
    "payment.refund_synced": "Remboursement constaté chez le prestataire",
    "payment.flag_resolved": "Alerte de paiement traitée",
    "refund.requested": "Remboursement demandé", "refund.succeeded": "Remboursement effectué",
    "refund.failed": "Remboursement refusé", "refund.retry_scheduled": "Remboursement : nouvel essai prévu",
    "regie_refund.created": "Remboursement à faire par la régie",
    "regie_refund.details_requested": "Coordonnées bancaires demandées à la famille",
    "regie_refund.done": "Remboursement fait par la régie",
    "credit_note.issued": "Avoir créé", "credit.reserved": "Avoir réservé pour un paiement",
    "credit.used": "Avoir utilisé", "credit.checkout": "Avoir utilisé pour un paiement",
    "credit.withdrawal": "Avoir retiré", "credit.refund_card": "Avoir remboursé sur la carte",
    "credit.refund_regie": "Avoir remboursé par la régie", "credit.refunded_card": "Avoir remboursé sur la carte",
    "invoice.issued": "Facture émise", "organiser.updated": "Coordonnées de l'organisateur modifiées",
    "calendar_feed_created": "Agenda en ligne créé", "calendar_feed_renewed": "Adresse de l'agenda renouvelée",
    "child.merged": "Doublon d'enfant fusionné", "consent_question.saved": "Question d'autorisation enregistrée",
    "consents.updated": "Autorisations modifiées", "document_type.added": "Type de pièce ajouté",
    "document_type.saved": "Type de pièce modifié", "quotient.closed": "QF précédent clos",
    "qf_campaign.started": "Campagne de mise à jour du QF lancée",
    "privacy.exported": "Données de la famille exportées",
    "privacy.erasure_requested": "Effacement des données demandé",
    "privacy.erased": "Données de la famille effacées",
})
# The catalogue screens audit « <table>.added/updated/deleted » (app.services.catalog.writes).
CATALOG_ENTITY_LABELS = {"establishment": "Accueil", "period": "Période", "week": "Semaine",
                         "tariff_bracket": "Tranche de tarif", "circuit": "Circuit de bus", "stop": "Arrêt de bus"}
for _entity, _noun in CATALOG_ENTITY_LABELS.items():
    AUDIT_ACTION_LABELS.update({f"{_entity}.added": f"{_noun} : ajout", f"{_entity}.updated": f"{_noun} : modification",
                                f"{_entity}.deleted": f"{_noun} : suppression"})


def label(table: dict[str, str], code: str | None) -> str:
    """The French label of `code`, or the code itself when the table does not know it (a new
    status shows up readable rather than as an error)."""
    if code is None:
        return ""
    return table.get(code, code)
