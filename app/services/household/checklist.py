"""What a household file needs before staff can validate it — defined once.

The old portal's FAQ 3: the parent's screen said "complete" while the back office said "missing".
Here the parent's checklist, the submit button, the staff review page, *validate* and *bulk
validate* all call `evaluate()` / `missing()`: they cannot disagree.

A document item is satisfied by the household's latest upload of that kind (per child for the
vaccination pages) unless staff refused it; a refused one shows staff's reason until replaced.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from app.models import Document, DocumentKind, Household, HouseholdChild, LinkStatus
from app.services.household import qf_campaign, validity
from app.services.localize import date_fr

FILE_URL = "/famille/dossier"


@dataclass(frozen=True)
class ChecklistItem:
    code: str  # stable, for programs and tests: "address", "child:12:health", "doc:insurance"…
    label: str  # French, what is required
    done: bool
    refused: bool = False  # a document staff refused: `detail` carries their reason
    detail: str | None = None
    fix_url: str | None = None  # where the parent completes it
    child_id: int | None = None

    @property
    def state(self) -> str:
        if self.done:
            return "done"
        return "refused" if self.refused else "missing"


DOCUMENT_LABELS = {
    DocumentKind.QF_ATTESTATION: "Attestation de quotient familial de la CAF",
    DocumentKind.INSURANCE: "Attestation d'assurance responsabilité civile et extrascolaire",
    DocumentKind.VACCINATIONS: "Pages de vaccination du carnet de santé",
    DocumentKind.CUSTODY_JUDGEMENT: "Jugement fixant la garde des enfants",
    DocumentKind.EMPLOYER_ATTESTATION: "Attestation d'employeur (une par parent qui travaille)",
    DocumentKind.MEDICAL_CERTIFICATE: "Certificat médical (demande d'annulation)",
}


def of_name(first_name: str) -> str:
    """French elision: « de Léa », « d'Inès », « d'Hugo »."""
    return f"d'{first_name}" if first_name[:1].lower() in "aeiouyhàâéèêëîïôöûüÿæœ" else f"de {first_name}"


def document_label(kind: str, child=None) -> str:
    label = validity.settings_for(kind).name or _(DOCUMENT_LABELS.get(kind, kind))
    if child is not None:
        return _("%(label)s %(of_child)s", label=label, of_child=of_name(child.first_name))
    return label


def active_links(household: Household) -> list[HouseholdChild]:
    """The children the file is about: every link but the ones staff refused."""
    return [link for link in household.child_links if link.status != LinkStatus.REFUSED]


def own_children(links: list[HouseholdChild]) -> list[HouseholdChild]:
    """Children whose sheet and vaccination pages this household must provide. A child shared with
    another household already has them on file there (and this household sees the sheet only once staff
    confirmed the link): what it must provide instead is the custody judgement."""
    return [link for link in links if not link.shared_request]


def latest_document(household: Household, kind: str, child_id: int | None = None) -> Document | None:
    candidates = [d for d in household.documents if d.kind == kind
                  and (child_id is None or d.child_id == child_id)]
    if not candidates:
        return None
    return max(candidates, key=lambda d: (d.uploaded_at, d.id))


def needs_qf_attestation(household: Household) -> bool:
    return not household.no_caf_number


def needs_custody_judgement(household: Household) -> bool:
    """Separated parents declared, or a child shared with another household."""
    return bool(household.separated_parents) or any(link.shared_request for link in active_links(household))


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _document_item(household: Household, kind: str, child=None) -> ChecklistItem:
    child_id = child.id if child is not None else None
    document = latest_document(household, kind, child_id)
    code = f"doc:{kind}" + (f":{child_id}" if child_id else "")
    label = document_label(kind, child)
    # « Compléter » opens the upload form with this type (and child) already chosen.
    fix_url = f"{FILE_URL}/pieces?kind={kind}" + (f"&child_id={child_id}" if child_id else "") + "#envoyer"
    if document is None:
        return ChecklistItem(code, label, False, fix_url=fix_url, child_id=child_id)
    if document.status == "refused":
        return ChecklistItem(code, label, False, refused=True,
                             detail=document.refusal_reason or _("Pièce refusée par le Pôle Jeunesse."),
                             fix_url=fix_url, child_id=child_id)
    # Valid today is not enough: it must still be valid at the end of every week booked or wished.
    lapse = validity.lapse(document, household.id)
    if lapse is not None:
        return ChecklistItem(code, label, False, detail=lapse.message(), fix_url=fix_url, child_id=child_id)
    return ChecklistItem(code, label, True, fix_url=fix_url, child_id=child_id)


def evaluate(household: Household) -> list[ChecklistItem]:
    """Every requirement of the file, in the order a parent fills it, each done or not."""
    items: list[ChecklistItem] = []
    add = items.append

    guardians = list(household.guardians)
    guardians_ok = bool(guardians) and all(
        not _blank(g.first_name) and not _blank(g.last_name) and not _blank(g.phone) for g in guardians)
    add(ChecklistItem("guardians", _("Au moins un responsable légal, avec nom, prénom et téléphone"),
                      guardians_ok, fix_url=f"{FILE_URL}/responsables"))
    address_ok = not any(_blank(v) for v in (household.address_line, household.postcode, household.city))
    add(ChecklistItem("address", _("Adresse complète du foyer (rue, code postal, commune)"), address_ok,
                      fix_url=f"{FILE_URL}/foyer"))
    add(ChecklistItem("phone", _("Téléphone du foyer"), not _blank(household.phone), fix_url=f"{FILE_URL}/foyer"))
    if household.owner_id is not None:  # a desk-only household (no login) may have no e-mail
        add(ChecklistItem("email", _("Adresse e-mail du foyer"), not _blank(household.email),
                          fix_url=f"{FILE_URL}/foyer"))
    add(ChecklistItem("caf", _("Numéro d'allocataire CAF, ou la case « pas de numéro CAF » cochée"),
                      household.no_caf_number or not _blank(household.caf_number), fix_url=f"{FILE_URL}/foyer"))
    if not household.no_caf_number:
        add(ChecklistItem("declared_qf", _("Quotient familial déclaré (indiqué sur l'attestation CAF)"),
                          household.declared_quotient is not None, fix_url=f"{FILE_URL}/foyer"))

    links = active_links(household)
    add(ChecklistItem("children", _("Au moins un enfant"), bool(links), fix_url=f"{FILE_URL}/enfants/ajouter"))
    for link in own_children(links):
        child = link.child
        child_url = f"{FILE_URL}/enfants/{child.id}"
        add(ChecklistItem(f"child:{child.id}:school",
                          _("École et classe %(of_child)s", of_child=of_name(child.first_name)),
                          not _blank(child.school) and not _blank(child.school_level) and child.sex in ("F", "M"),
                          fix_url=child_url, child_id=child.id))
        add(ChecklistItem(f"child:{child.id}:health",
                          _("Fiche sanitaire %(of_child)s (dont le médecin traitant)",
                            of_child=of_name(child.first_name)),
                          child.health_updated_at is not None and not _blank(child.doctor_name)
                          and not _blank(child.doctor_phone),
                          fix_url=f"{child_url}/sante", child_id=child.id))
        add(ChecklistItem(f"child:{child.id}:vaccinations",
                          _("Vaccinations obligatoires %(of_child)s à jour (case à cocher dans la fiche sanitaire)",
                            of_child=of_name(child.first_name)),
                          bool(child.vaccinations_up_to_date), fix_url=f"{child_url}/sante", child_id=child.id))

    def required(kind: str) -> bool:  # staff may require a proof for séjours only, say
        return validity.is_required(kind, household.id)

    if needs_qf_attestation(household) and required(DocumentKind.QF_ATTESTATION):
        add(_document_item(household, DocumentKind.QF_ATTESTATION))
        campaign = qf_campaign.current()
        if campaign is not None and household.status != "draft":  # the yearly renewal
            add(ChecklistItem("qf_renewal", _("Nouvelle attestation de quotient familial (%(label)s), à envoyer "
                                              "avant le %(day)s", label=campaign.label, day=date_fr(campaign.deadline)),
                              qf_campaign.answered(household, campaign),
                              fix_url=f"{FILE_URL}/pieces?kind={DocumentKind.QF_ATTESTATION}#envoyer"))
    if required(DocumentKind.INSURANCE):
        add(_document_item(household, DocumentKind.INSURANCE))
    if required(DocumentKind.VACCINATIONS):
        for link in own_children(links):
            add(_document_item(household, DocumentKind.VACCINATIONS, link.child))
    if needs_custody_judgement(household):
        add(_document_item(household, DocumentKind.CUSTODY_JUDGEMENT))
    for kind in validity.custom_kinds():  # the kinds of proof staff added
        if not required(kind):
            continue
        if validity.is_per_child(kind):
            for link in own_children(links):
                add(_document_item(household, kind, link.child))
        else:
            add(_document_item(household, kind))
    return items


def missing(household: Household) -> list[ChecklistItem]:
    """What is still missing or was refused (French labels): empty means the file is complete."""
    return [item for item in evaluate(household) if not item.done]


def is_complete(household: Household) -> bool:
    return not missing(household)


def summary(items: list[ChecklistItem]) -> str:
    """One French sentence listing what is missing, for error messages and mails."""
    return " ; ".join(item.label + (f" ({item.detail})" if item.detail else "") for item in items)
