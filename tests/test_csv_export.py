"""CSV for French spreadsheet software: BOM, semicolons, CRLF, dd/mm/yyyy, decimal comma; parsed back."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timezone

from tests import ops_data
from tests.support.db import call
from tests.test_reports import world  # noqa: F401  (fixture)


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark missing"
    text = data.decode("utf-8-sig")
    assert text.endswith("\r\n") and text.split("\n", 1)[0].endswith("\r"), "records must end with CRLF"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert text.count("\r\n") == len(rows)
    return rows


def test_values_are_written_the_french_way():
    from app.services.operations.csv_export import Amount, to_csv

    data = to_csv(["Nom", "Date", "Heure", "Montant", "PAI", "Quand", "Note"],
                  [["Léa; « la petite »", date(2026, 7, 6), time(7, 30), Amount(123456), True,
                    datetime(2026, 7, 6, 6, 15, tzinfo=timezone.utc), 'dit "bonjour"\nà tous'],
                   ["Tom", None, None, Amount(-5), False, None, ""]])
    rows = parse(data)
    assert rows[0] == ["Nom", "Date", "Heure", "Montant", "PAI", "Quand", "Note"]
    assert rows[1] == ["Léa; « la petite »", "06/07/2026", "07:30", "1234,56", "oui", "06/07/2026 08:15",
                       'dit "bonjour"\nà tous']
    assert rows[2] == ["Tom", "", "", "-0,05", "non", "", ""]


def test_formula_like_cells_are_neutralised_but_phones_stay():
    from app.services.operations.csv_export import to_csv

    rows = parse(to_csv(["a", "b", "c", "d"], [["=HYPERLINK(\"x\")", "+33 6 12 34 56 78", "@SUM(A1)", "- noix"]]))
    # "- noix" is read as a formula by spreadsheets (issue 11): it gets the apostrophe too.
    assert rows[1] == ["'=HYPERLINK(\"x\")", "+33 6 12 34 56 78", "'@SUM(A1)", "'- noix"]


def test_roster_csv_parses_back(app, world):  # noqa: F811
    from app.services.operations import csv_export, reports

    rows = parse(call(app, lambda: csv_export.roster_csv(reports.rosters([world["w1"], world["w2"]]))))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["Établissement", "Période", "Semaine", "Du", "Au", "Nom"]
    record = [dict(zip(header, r)) for r in body]
    assert [(r["Prénom"], r["Semaine"]) for r in record] == [("Léa", "Semaine du " + _ddmm(world, 0)),
                                                            ("Tom", "Semaine du " + _ddmm(world, 0)),
                                                            ("Léa", "Semaine du " + _ddmm(world, 1))]
    lea = record[0]
    assert lea["PAI"] == "oui" and lea["Allergies"] == "Arachides" and lea["Âge"] == "8"
    assert lea["Du"] == world["cat"].starts_on.strftime("%d/%m/%Y")
    assert lea["Transport"] == "Bus" and lea["Heure de montée"] == "09:30"
    assert "Marc Durand (Père) 0699887766" in lea["Contacts d'urgence"]
    assert "Mamie Jeanne (Grand-mère) 0611111111" in lea["Personnes autorisées à récupérer l'enfant"]
    assert record[1]["Transport"] == "Sur place" and record[1]["Arrêt"] == ""


def _ddmm(world, index):
    from datetime import timedelta

    return (world["cat"].starts_on + timedelta(weeks=index)).strftime("%d/%m")


def test_bus_list_csv_parses_back_in_route_order(app, world, factory):  # noqa: F811
    from app.services.operations import csv_export, reports

    eglise = world["stops"][0]
    extra = factory.household(last_name="Abel", children=[("Noé", 7)])
    ops_data.reserve(app, extra.id, extra.child_ids[0], world["w1"], stop_id=eglise, circuit_id=world["cat"].circuit_id)
    rows = parse(call(app, lambda: csv_export.bus_list_csv(reports.bus_lists([world["w1"]]))))
    record = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [(r["Ordre"], r["Prénom"]) for r in record] == [("1", "Noé"), ("3", "Léa")]
    assert record[1]["Téléphone"] == "0612345678" and record[1]["Heure de descente"] == "17:30"


def test_onsite_csv_parses_back(app, world):  # noqa: F811
    from app.services.operations import csv_export, reports

    rows = parse(call(app, lambda: csv_export.onsite_csv(reports.onsite_lists([world["w1"]]))))
    assert [dict(zip(rows[0], r))["Prénom"] for r in rows[1:]] == ["Tom"]


def test_occupancy_and_takings_csv_parse_back(app, world):  # noqa: F811
    from app.services.operations import csv_export, reports

    payment = ops_data.pay(app, world["basket"], world["dupont"].id, 9500)
    ops_data.refund(app, payment, 4550, reservation_id=world["r_tom"])
    rows = parse(call(app, lambda: csv_export.takings_csv(reports.takings())))
    record = dict(zip(rows[0], rows[1]))
    assert record["Encaissé (€)"] == "95,00" and record["Remboursé (€)"] == "45,50" and record["Net (€)"] == "49,50"
    assert record["Dont carte bancaire (en ligne) (€)"] == "95,00"

    rows = parse(call(app, lambda: csv_export.occupancy_csv(reports.occupancy(world["cat"].period_id))))
    record = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert (record[0]["Capacité"], record[0]["Confirmées"], record[0]["En attente de paiement"],
            record[0]["Libres"]) == ("10", "2", "1", "7")
    assert len(record) == 4  # two weeks, one circuit × two weeks
