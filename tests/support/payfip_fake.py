"""A fake PayFiP web service behind a requests transport adapter.

Only the HTTP transport is replaced: eopayment's real `payfip_ws` code builds the SOAP envelopes
with zeep (from the WSDL bundled with eopayment), posts them through the requests.Session given to
zeep, and parses what comes back. This adapter answers like PayFiP does (answers shaped on
eopayment's own recorded exchanges): an operation id for `creerPaiementSecurise`, the operation's
detail, or the « P5 » (result not known yet) and « P1 » (unknown operation) faults, for
`recupererDetailPaiementSecurise`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from lxml import etree
from requests.adapters import HTTPAdapter

NUMCLI = "090909"
SERVICE_URL = "https://www.payfip.gouv.fr/tpa/services/securite"
NS = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/" \
     "PaiementSecuriseService"
ENVELOPE = ('<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>{body}</S:Body>'
            '</S:Envelope>')


@dataclass
class Operation:
    idop: str
    fields: dict
    result: str | None = None  # PayFiP's resultrans: P paid, R refused, A cancelled; None: not known yet
    montant: str | None = None  # what PayFiP says was paid (defaults to what was asked)
    numauto: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(ZoneInfo("Europe/Paris")) - timedelta(minutes=10))


@dataclass
class Call:
    operation: str
    fields: dict
    url: str
    timeout: object


class FakePayFiP(HTTPAdapter):
    def __init__(self):
        super().__init__()
        self.operations: dict[str, Operation] = {}
        self.calls: list[Call] = []
        self.down = False
        self.fault: tuple[str, str] | None = None  # (code, libellé) answered to the next creation

    # --- test controls -----------------------------------------------------------------------
    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", self)
        session.mount("http://", self)
        return session

    def pay(self, idop: str, montant: str | None = None) -> None:
        op = self.operations[idop]
        op.result, op.montant, op.numauto = "P", montant, f"{len(self.operations):06d}-tip"

    def refuse(self, idop: str) -> None:
        self.operations[idop].result = "R"

    def cancel(self, idop: str) -> None:
        self.operations[idop].result = "A"

    def creations(self) -> list[Call]:
        return [c for c in self.calls if c.operation == "creerPaiementSecurise"]

    def reads(self) -> list[Call]:
        return [c for c in self.calls if c.operation == "recupererDetailPaiementSecurise"]

    # --- transport ---------------------------------------------------------------------------
    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if self.down:
            raise requests.ConnectionError("PayFiP unreachable (test)")
        root = etree.fromstring(request.body if isinstance(request.body, bytes) else request.body.encode())
        body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        operation_element = body[0]
        operation = etree.QName(operation_element).localname
        arg0 = operation_element.find("arg0")
        fields = {etree.QName(child).localname: child.text for child in arg0}
        self.calls.append(Call(operation, fields, request.url, timeout))
        if operation == "creerPaiementSecurise":
            return self._create(request, fields)
        if operation == "recupererDetailPaiementSecurise":
            return self._detail(request, fields.get("idOp"))
        return self._fault(request, "X", "Opération inconnue du faux PayFiP")

    def _create(self, request, fields):
        if self.fault:
            code, label = self.fault
            self.fault = None
            return self._fault(request, code, label)
        idop = f"cc0cb210-1cd4-11ea-8cca-{len(self.operations) + 1:012d}"
        self.operations[idop] = Operation(idop, fields)
        return self._answer(request, 200, f'<ns2:creerPaiementSecuriseResponse xmlns:ns2="{NS}"><return>'
                                          f"<idOp>{idop}</idOp></return></ns2:creerPaiementSecuriseResponse>")

    def _detail(self, request, idop):
        op = self.operations.get(idop)
        if op is None:
            return self._fault(request, "P1", "IdOp incorrect.")
        if op.result is None:
            return self._fault(request, "P5", "Résultat de la transaction non connu.")
        f = op.fields
        values = {
            "dattrans": op.at.strftime("%d%m%Y"), "exer": f.get("exer"), "heurtrans": op.at.strftime("%H%M"),
            "idOp": idop, "mel": f.get("mel"), "montant": op.montant or f.get("montant"),
            "numauto": op.numauto if op.result == "P" else None, "numcli": f.get("numcli"),
            "objet": f.get("objet"), "refdet": f.get("refdet"), "resultrans": op.result, "saisie": f.get("saisie"),
        }
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items() if v is not None)
        return self._answer(request, 200, f'<ns2:recupererDetailPaiementSecuriseResponse xmlns:ns2="{NS}">'
                                          f"<return>{inner}</return></ns2:recupererDetailPaiementSecuriseResponse>")

    def _fault(self, request, code, label):
        return self._answer(request, 500, (
            '<S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope"><faultcode>S:Server</faultcode>'
            "<faultstring>fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur</faultstring>"
            f'<detail><ns2:FonctionnelleErreur xmlns:ns2="{NS}"><code>{code}</code><descriptif/>'
            f"<libelle>{label}</libelle><severite>2</severite></ns2:FonctionnelleErreur></detail></S:Fault>"))

    @staticmethod
    def _answer(request, status, body):
        response = requests.Response()
        response.status_code = status
        response._content = ENVELOPE.format(body=body).encode("utf-8")
        response.headers["Content-Type"] = "text/xml;charset=utf-8"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response


def use_payfip(app, monkeypatch, fake: FakePayFiP | None = None, *, mode: str = "test") -> FakePayFiP:
    fake = fake or FakePayFiP()
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "payfip")
    monkeypatch.setitem(app.config, "PAYFIP_NUMCLI", NUMCLI)
    monkeypatch.setitem(app.config, "PAYFIP_MODE", mode)
    monkeypatch.setitem(app.extensions, "payfip_http_session", fake.session())
    return fake
