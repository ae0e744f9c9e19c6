"""The HTML views' shared helpers (app.views.helpers): a service's refusal becomes its French message
and a redirect, a 404 stays a 404, a parent without a household is sent home, ids are ASCII only."""
from __future__ import annotations

import pytest
from flask import g, get_flashed_messages
from werkzeug.exceptions import NotFound as HTTPNotFound

from app.models.types import MAX_ID
from app.services.errors import Conflict, NotFound, ServiceError
from app.views.helpers import household_required, parse_id, service_errors

# --- parse_id ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("1", 1), ("42", 42), (" 7 ", 7), (str(MAX_ID), MAX_ID), (5, 5),
    ("0", None), ("-3", None), ("+3", None), ("3.0", None), ("", None), (None, None), ("abc", None),
    ("٣", None),            # Arabic-Indic three: str.isdigit() and int() both accept it
    ("²", None),            # superscript two: isdigit() says yes, int() raises (a 500 before)
    ("１２", None),          # full-width digits
    (str(MAX_ID + 1), None),  # beyond the INTEGER columns: PostgreSQL would answer with an error
    ("9" * 40, None), (0, None), (True, None), (MAX_ID + 1, None),
])
def test_parse_id_takes_ascii_ids_within_the_column_range_only(raw, expected):
    assert parse_id(raw) == expected


# --- service_errors ------------------------------------------------------------------------

def test_a_refusal_is_flashed_in_french_and_redirects_to_the_named_endpoint(app):
    @service_errors("ParentBasketView.basket")
    def remove(line_id):
        raise Conflict("Cette semaine est déjà payée : elle ne peut plus être retirée.")

    with app.test_request_context("/famille/panier/retirer/3", method="POST"):
        response = remove(line_id=3)
        assert response.status_code == 302
        # The view's own URL value (line_id) is not carried to a page that does not take it.
        assert response.location == "/famille/panier/"
        assert get_flashed_messages(with_categories=True) == [
            ("danger", "Cette semaine est déjà payée : elle ne peut plus être retirée.")]


def test_the_target_endpoint_is_filled_with_the_views_url_values(app):
    @service_errors("StaffPaymentsView.show")
    def refund(payment_id, reservation_id):
        raise ServiceError("Montant trop élevé.")

    with app.test_request_context("/paiements/12/inscription/5/annuler", method="POST"):
        response = refund(payment_id=12, reservation_id=5)
        assert response.location == "/paiements/12"


def test_without_a_target_a_post_goes_back_to_the_page_it_was_sent_from(app):
    @service_errors()
    def form():
        raise ServiceError("Le code postal doit avoir 5 chiffres.")

    with app.test_request_context("/famille/dossier/foyer?x=1", method="POST"):
        response = form()
        assert response.status_code == 302 and response.location == "/famille/dossier/foyer?x=1"


def test_a_get_without_a_target_never_redirects_to_itself(app):
    @service_errors()
    def page():
        raise ServiceError("Indisponible.")

    with app.test_request_context("/guichet/foyer/3"):
        response = page()
        assert response.location == app.appbuilder.get_url_for_index
        assert response.location != "/guichet/foyer/3"


def test_a_not_found_refusal_is_a_404_not_a_message(app):
    @service_errors("ParentBasketView.basket")
    def remove(line_id):
        raise NotFound("Cette ligne n'existe pas.")

    with app.test_request_context("/famille/panier/retirer/3", method="POST"):
        with pytest.raises(HTTPNotFound):
            remove(line_id=3)
        assert get_flashed_messages() == []


def test_a_not_found_refusal_can_have_its_own_page_or_be_told_like_the_others(app):
    @service_errors("ParentBasketView.basket", not_found=lambda exc: (f"page: {exc.message}", 404))
    def own_page():
        raise NotFound("Introuvable.")

    @service_errors("StaffDeskView.index", not_found=False)
    def told():
        raise NotFound("Cette ligne n'est plus dans le panier.")

    with app.test_request_context("/x", method="POST"):
        assert own_page() == ("page: Introuvable.", 404)
        response = told()
        assert response.status_code == 302 and response.location == "/guichet/"
        assert get_flashed_messages() == ["Cette ligne n'est plus dans le panier."]


def test_a_refused_change_is_rolled_back_before_the_redirect(app, factory):
    from app.models import Household, db

    family = factory.household(last_name="Avant")

    @service_errors("ParentHomeView.index")
    def rename():
        db.session.get(Household, family.id).name = "Foyer Après"
        raise ServiceError("Refusé.")

    with app.test_request_context("/famille/dossier/foyer", method="POST"):
        rename()
        assert db.session.get(Household, family.id).name == "Foyer Avant"


def test_a_successful_view_is_returned_untouched(app):
    @service_errors("ParentHomeView.index")
    def fine(basket_id):
        return f"reçu {basket_id}"

    with app.test_request_context("/famille/recu/4"):
        assert fine(basket_id=4) == "reçu 4"


# --- household_required --------------------------------------------------------------------

class _View:
    @household_required
    def page(self, household, child_id):
        return ("household", household.id, child_id)

    @household_required(otherwise=lambda: ("no file", 404))
    def receipt(self, household):
        return ("household", household.id)


def _as(app, user_id):
    from app.models import db

    return db.session.get(app.appbuilder.sm.user_model, user_id)


def test_household_required_gives_the_parents_own_household(app, factory):
    family = factory.household()
    other = factory.household()
    with app.test_request_context("/famille/inscrire/1"):
        g.user = _as(app, family.user_id)
        assert _View().page(child_id=1) == ("household", family.id, 1)
        assert _View().receipt() == ("household", family.id)
        g.user = _as(app, other.user_id)
        assert _View().page(child_id=1) == ("household", other.id, 1)


def test_without_a_household_the_parent_is_sent_home_with_a_french_warning(app, factory):
    lonely = factory.user()
    with app.test_request_context("/famille/inscrire/1"):
        g.user = _as(app, lonely.id)
        response = _View().page(child_id=1)
        assert response.status_code == 302 and response.location == "/famille/"
        [(category, message)] = get_flashed_messages(with_categories=True)
        assert category == "warning" and message.startswith("Aucun dossier famille n'est associé à ce compte")
        assert _View().receipt() == ("no file", 404)


def test_pages_without_a_household_answer_through_the_helper(app, factory, login):
    """End to end: the booking pages redirect home, a receipt and the file's pages are 404."""
    client = login(app.test_client(), factory.user().email)
    for url in ("/famille/inscrire/", "/famille/panier/", "/famille/inscriptions/", "/famille/recus"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/famille/", url
    assert client.get("/famille/recu/1").status_code == 404
    assert client.get("/famille/dossier/pieces").status_code == 404
