"""The checklist service on its own: what a household file needs, defined once (FAQ 3)."""
from __future__ import annotations

import pytest

from app.models import DocumentKind
from tests.dossier_helpers import PDF, fill_household


def _codes(items):
    return [item.code for item in items]


def _evaluate(app, household_id):
    from app.models import Household, db
    from app.services.household import checklist

    with app.app_context():
        items = checklist.evaluate(db.session.get(Household, household_id))
    return items


def test_a_complete_file_has_nothing_missing(app, factory):
    family = factory.household(status="draft", children=[("Léa", 8), ("Hugo", 5)])
    fill_household(app, family.id)
    items = _evaluate(app, family.id)
    assert [i for i in items if not i.done] == []
    # Every requirement is listed, one vaccination document per child.
    codes = _codes(items)
    for child_id in family.child_ids:
        assert f"doc:vaccinations:{child_id}" in codes
        assert f"child:{child_id}:health" in codes
    assert "doc:custody_judgement" not in codes


def test_a_new_file_lists_every_missing_item_in_french(app, factory):
    family = factory.household(status="draft")
    from app.models import Household, HouseholdChild, db
    from app.services.household import checklist

    with app.app_context():
        db.session.query(HouseholdChild).filter_by(household_id=family.id).delete()
        household = db.session.get(Household, family.id)
        household.address_line = None
        household.caf_number = None
        household.declared_quotient = None
        db.session.commit()
        missing = checklist.missing(household)
        codes = _codes(missing)
        labels = " ".join(item.label for item in missing)
    assert {"address", "caf", "declared_qf", "children", "doc:qf_attestation", "doc:insurance"} <= set(codes)
    assert "Adresse complète" in labels and "Au moins un enfant" in labels
    assert "Attestation de quotient familial" in labels


def test_no_caf_number_drops_the_qf_and_its_attestation(app, factory):
    family = factory.household(status="draft")
    fill_household(app, family.id, documents=False)
    from app.models import Household, db
    from app.services.household import checklist

    with app.app_context():
        household = db.session.get(Household, family.id)
        assert "doc:qf_attestation" in _codes(checklist.missing(household))
        household.no_caf_number = True
        household.caf_number = None
        household.declared_quotient = None
        db.session.commit()
        codes = _codes(checklist.evaluate(household))
    assert "doc:qf_attestation" not in codes and "declared_qf" not in codes
    assert "caf" in codes


def test_separated_parents_need_the_custody_judgement(app, factory):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    from app.models import Household, db
    from app.services.household import checklist, documents

    with app.app_context():
        household = db.session.get(Household, family.id)
        household.separated_parents = True
        db.session.commit()
        assert _codes(checklist.missing(household)) == ["doc:custody_judgement"]
        documents.add_document(household, DocumentKind.CUSTODY_JUDGEMENT, "jugement.pdf", PDF)
        assert checklist.missing(household) == []


def test_a_refused_document_shows_the_reason_until_replaced(app, factory):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    from app.models import Document, Household, db
    from app.services.household import checklist, documents

    with app.app_context():
        household = db.session.get(Household, family.id)
        insurance = next(d for d in household.documents if d.kind == DocumentKind.INSURANCE)
        insurance.status = "refused"
        insurance.refusal_reason = "Attestation expirée en 2024"
        db.session.commit()
        missing = checklist.missing(household)
        assert [(i.code, i.state, i.detail) for i in missing] == [
            ("doc:insurance", "refused", "Attestation expirée en 2024")]
        documents.add_document(household, DocumentKind.INSURANCE, "assurance-2026.pdf", PDF)
        assert checklist.missing(household) == []
        assert db.session.query(Document).filter_by(kind=DocumentKind.INSURANCE).count() == 2


@pytest.mark.parametrize("field, code", [("doctor_name", "child:{id}:health"), ("school_level", "child:{id}:school"),
                                         ("vaccinations_up_to_date", "child:{id}:vaccinations")])
def test_each_child_requirement_is_checked(app, factory, field, code):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    from app.models import Child, db

    with app.app_context():
        child = db.session.get(Child, family.child_ids[0])
        setattr(child, field, False if field == "vaccinations_up_to_date" else None)
        db.session.commit()
    missing = [i for i in _evaluate(app, family.id) if not i.done]
    assert _codes(missing) == [code.format(id=family.child_ids[0])]
    assert missing[0].child_id == family.child_ids[0]


def test_a_guardian_without_phone_is_missing(app, factory):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    from app.models import Guardian, db

    with app.app_context():
        db.session.query(Guardian).filter_by(household_id=family.id).update({"phone": None})
        db.session.commit()
    assert _codes([i for i in _evaluate(app, family.id) if not i.done]) == ["guardians"]


def test_refused_child_links_are_not_required(app, factory):
    family = factory.household(status="draft", children=[("Léa", 8), ("Hugo", 6)])
    fill_household(app, family.id)
    from app.models import Child, HouseholdChild, db

    with app.app_context():
        hugo = db.session.get(Child, family.child_ids[1])
        hugo.doctor_name = None
        db.session.query(HouseholdChild).filter_by(child_id=hugo.id).update({"status": "refused"})
        db.session.commit()
    items = _evaluate(app, family.id)
    assert all(i.done for i in items)
    assert not any(i.child_id == family.child_ids[1] for i in items)


def test_parent_page_and_staff_page_show_the_same_missing_items(app, factory, login):
    """The old FAQ 3 bug: the same function drives both screens."""
    family = factory.household(status="draft")
    fill_household(app, family.id)
    from app.models import Child, db

    with app.app_context():
        db.session.get(Child, family.child_ids[0]).doctor_phone = None
        db.session.commit()
    from tests.dossier_helpers import set_status

    set_status(app, family.id, "submitted")
    missing_codes = [i.code for i in _evaluate(app, family.id) if not i.done]
    assert missing_codes == [f"child:{family.child_ids[0]}:health"]
    parent = login(app.test_client(), family.email)
    staff = login(app.test_client(), factory.staff().email)
    parent_page = parent.get("/famille/dossier/").get_data(as_text=True)
    staff_page = staff.get(f"/revue-dossiers/dossier/{family.id}").get_data(as_text=True)
    label = "Fiche sanitaire de Léa (dont le médecin traitant)"
    assert label in parent_page and label in staff_page
    import re

    todo = re.findall(r'class="todo" data-code="([^"]+)"', parent_page)
    staff_todo = [c for c in re.findall(r'<li data-code="([^"]+)"><span class="text-danger">', staff_page)]
    assert todo == staff_todo == missing_codes


def test_a_shared_child_asks_for_the_custody_judgement_not_its_sheet(app, factory):
    """The other household's child has its sheet on file there; this household cannot see it before
    staff confirm the link, so it is asked for the custody judgement instead."""
    family = factory.household(status="draft")
    fill_household(app, family.id)
    other = factory.household(status="validated", children=[("Zoé", 9)])
    factory.link_child(family.id, other.child_ids[0], status="pending")
    items = _evaluate(app, family.id)
    codes = _codes(items)
    assert not any(str(other.child_ids[0]) in code for code in codes)
    assert [i.code for i in items if not i.done] == ["doc:custody_judgement"]
