"""SQLAlchemy models, one module per aggregate.

`db` shares Flask-AppBuilder's MetaData (``SQLA(model_class=Model)``) so that Alembic and
``db.create_all()`` see the ``ab_*`` security tables and ours alike.
"""
from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA

db = SQLA(model_class=Model)

from . import hold_function  # noqa: E402,F401  (pf_hold: installed by create_all on PostgreSQL too)
from .account import AccountSecurity, SecurityVersion  # noqa: E402,F401
from .allocation import AllocationRules, AllocationRun, OpeningMode, Wish  # noqa: E402,F401
from .attendance import (  # noqa: E402,F401
    AbsenceReason,
    AnimatorAssignment,
    Attendance,
    AttendanceStatus,
    AttendanceTick,
    BenefitScheme,
    Boarding,
    BoardingLeg,
    EstablishmentHours,
    OpenDayOverride,
)
from .audit import AuditLog, MailLog  # noqa: E402,F401
from .booking import Basket, BasketStatus, Reservation, ReservationStatus, TransportMode  # noqa: E402,F401
from .calendar import CalendarFeed  # noqa: E402,F401
from .catalog import Circuit, Establishment, Period, Stop, TariffBracket, Week  # noqa: E402,F401
from .consents import ChildConsent, ConsentQuestion  # noqa: E402,F401
from .credit import (  # noqa: E402,F401
    CancellationOutcome,
    CancellationRequest,
    CancellationRequestStatus,
    CancellationRules,
    CreditNote,
    CreditNoteKind,
    CreditUse,
    CreditUseKind,
    DocumentCounter,
)
from .document_types import DocumentType, RequiredFor, ValidityRule  # noqa: E402,F401
from .household import (  # noqa: E402,F401
    AuthorizedPickup,
    Child,
    Document,
    DocumentKind,
    Guardian,
    Household,
    HouseholdChild,
    HouseholdStatus,
    LinkStatus,
)
from .household_records import HouseholdInvitation, QuotientRecord, QuotientSource  # noqa: E402,F401
from .invoice import Invoice, InvoiceLine, Organiser  # noqa: E402,F401
from .payment import Payment, PaymentStatus, ProviderEvent, Refund  # noqa: E402,F401
from .qf_campaign import QfCampaign  # noqa: E402,F401
from .regie import RegieRefund, RegieRefundStatus  # noqa: E402,F401
from .types import UTCDateTime, utcnow  # noqa: E402,F401
from .waitlist import OfferOutcome, WaitlistEntry, WaitlistOffer, WaitlistSettings, WaitlistStatus, WaitlistTransport  # noqa: E402,F401,E501
