"""Read screens for staff: households and children."""
from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.models import Child, Guardian, Household, HouseholdChild
from app.services.localize import CHILD_LINK_STATUS_LABELS, HOUSEHOLD_STATUS_LABELS
from app.views.filters import date_fr

from .fields import FORMAT_DATETIME

CATEGORY = "Familles"


class ReadOnlyView(ModelView):
    base_permissions = ["can_list", "can_show"]


class GuardianView(ReadOnlyView):
    datamodel = SQLAInterface(Guardian)
    list_title = show_title = "Responsables légaux"
    label_columns = {"household": "Foyer", "first_name": "Prénom", "last_name": "Nom",
                     "relationship_label": "Lien", "phone": "Téléphone", "email": "E-mail",
                     "employer": "Employeur"}
    list_columns = ["last_name", "first_name", "relationship_label", "phone", "email", "household"]
    show_columns = ["household", "first_name", "last_name", "relationship_label", "phone", "email", "employer"]
    search_columns = ["last_name", "first_name", "phone", "email"]


class HouseholdChildView(ReadOnlyView):
    datamodel = SQLAInterface(HouseholdChild)
    list_title = show_title = "Rattachements enfant ↔ foyer"
    label_columns = {"household": "Foyer", "child": "Enfant", "status": "Rattachement",
                     "shared_request": "Enfant déjà connu d'un autre foyer", "created_at": "Demandé le"}
    list_columns = ["child", "household", "status", "shared_request", "created_at"]
    show_columns = list_columns
    search_columns = ["status", "shared_request"]
    formatters_columns = {"status": lambda s: CHILD_LINK_STATUS_LABELS.get(s, s), "created_at": FORMAT_DATETIME}


class ChildView(ReadOnlyView):
    datamodel = SQLAInterface(Child)
    list_title = show_title = "Enfants"
    label_columns = {"first_name": "Prénom", "last_name": "Nom", "birth_date": "Date de naissance",
                     "sex": "Sexe", "school": "École", "school_level": "Classe", "allergies": "Allergies",
                     "diet": "Régime alimentaire", "pai": "PAI", "pai_details": "Détails du PAI",
                     "medical_notes": "Informations médicales", "doctor_name": "Médecin traitant",
                     "doctor_phone": "Téléphone du médecin",
                     "vaccinations_up_to_date": "Vaccinations à jour", "image_rights": "Droit à l'image",
                     "health_updated_at": "Fiche sanitaire modifiée le", "household_links": "Foyers"}
    list_columns = ["last_name", "first_name", "birth_date", "school_level", "pai", "allergies"]
    show_columns = ["first_name", "last_name", "birth_date", "sex", "school", "school_level", "allergies", "diet",
                    "pai", "pai_details", "medical_notes", "doctor_name", "doctor_phone",
                    "vaccinations_up_to_date", "image_rights", "health_updated_at"]
    search_columns = ["last_name", "first_name", "birth_date", "pai"]
    base_order = ("last_name", "asc")
    formatters_columns = {"birth_date": date_fr, "health_updated_at": FORMAT_DATETIME}
    related_views = [HouseholdChildView]


class HouseholdView(ReadOnlyView):
    datamodel = SQLAInterface(Household)
    list_title = show_title = "Foyers"
    label_columns = {"name": "Foyer", "status": "Dossier", "email": "E-mail", "phone": "Téléphone",
                     "address_line": "Adresse", "postcode": "Code postal", "city": "Commune",
                     "caf_number": "N° allocataire CAF", "no_caf_number": "Sans numéro CAF",
                     "declared_quotient": "QF déclaré", "quotient": "QF retenu",
                     "separated_parents": "Parents séparés", "submitted_at": "Envoyé le",
                     "validated_at": "Validé le", "created_at": "Créé le", "owner": "Compte"}
    list_columns = ["name", "status", "city", "phone", "quotient", "submitted_at"]
    show_columns = ["name", "status", "owner", "email", "phone", "address_line", "postcode", "city", "caf_number",
                    "no_caf_number", "declared_quotient", "quotient", "separated_parents", "submitted_at",
                    "validated_at", "created_at"]
    search_columns = ["name", "status", "city", "email", "caf_number"]
    base_order = ("name", "asc")
    formatters_columns = {"status": lambda s: HOUSEHOLD_STATUS_LABELS.get(s, s), "submitted_at": FORMAT_DATETIME,
                          "validated_at": FORMAT_DATETIME, "created_at": FORMAT_DATETIME}
    related_views = [GuardianView, HouseholdChildView]


def register(appbuilder) -> None:
    appbuilder.add_view(HouseholdView, "Foyers", icon="fa-home", category=CATEGORY, category_icon="fa-users")
    appbuilder.add_view(ChildView, "Enfants", icon="fa-child", category=CATEGORY)
    appbuilder.add_view(GuardianView, "Responsables légaux", icon="fa-user", category=CATEGORY)
    appbuilder.add_view(HouseholdChildView, "Rattachements", icon="fa-link", category=CATEGORY)
