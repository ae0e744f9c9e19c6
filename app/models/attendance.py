"""On the ground: who works where (animators' assignments), the days an establishment is open and
its hours, attendance (pointage) and bus boarding, and the ticks phones send to record them.

Ticks are kept as they arrived (`AttendanceTick`, one row per client-generated id): a phone that
lost its network sends its queue again, and the unique id makes the second delivery a no-op. The
`Attendance` and `Boarding` rows are the state the ticks converge to: the tick with the latest
phone time wins, whatever the order in which two phones' queues reach the server.
"""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class AttendanceStatus:
    PRESENT = "present"
    ABSENT = "absent"
    ALL = (PRESENT, ABSENT)


class AbsenceReason:
    JUSTIFIED = "justified"  # with a medical certificate: may give a credit where the period's rules say so
    UNJUSTIFIED = "unjustified"
    ALL = (JUSTIFIED, UNJUSTIFIED)


class BoardingLeg:
    MORNING = "morning"  # boards at the stop, gets off at the establishment
    EVENING = "evening"  # boards at the establishment, gets off at the stop
    ALL = (MORNING, EVENING)


class BenefitScheme:
    """Which family-benefit office the household depends on: the CAF funds the ALSH by the hours of
    its allocataires' children, the MSA (agricultural scheme) by its own, others not at all."""

    CAF = "caf"
    MSA = "msa"
    OTHER = "other"
    ALL = (CAF, MSA, OTHER)


class AnimatorAssignment(db.Model):
    """An animator works for one establishment or one bus circuit; they see nothing else."""

    __tablename__ = "animator_assignment"
    __table_args__ = (
        CheckConstraint("(establishment_id IS NULL) <> (circuit_id IS NULL)", name="ck_animator_assignment_target"),
        UniqueConstraint("user_id", "establishment_id", name="uq_animator_establishment"),
        UniqueConstraint("user_id", "circuit_id", name="uq_animator_circuit"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    establishment_id = Column(Integer, ForeignKey("establishment.id", ondelete="CASCADE"), index=True)
    circuit_id = Column(Integer, ForeignKey("circuit.id", ondelete="CASCADE"), index=True)

    user = relationship("User")
    establishment = relationship("Establishment")
    circuit = relationship("Circuit")


class EstablishmentHours(db.Model):
    """An establishment's ordinary day (e.g. 8:30–17:30): the hours a present child is counted."""

    __tablename__ = "establishment_hours"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="ck_establishment_hours"),)

    establishment_id = Column(Integer, ForeignKey("establishment.id", ondelete="CASCADE"), primary_key=True)
    opens_at = Column(Time, nullable=False)
    closes_at = Column(Time, nullable=False)


class OpenDayOverride(db.Model):
    """Staff's exception to the calendar (Monday–Friday minus public holidays): a day closed (a
    bridge day, a strike) or opened, or other hours that day."""

    __tablename__ = "open_day_override"
    __table_args__ = (
        UniqueConstraint("establishment_id", "day", name="uq_open_day_override"),
        CheckConstraint("opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at", name="ck_open_day_hours"),
    )

    id = Column(Integer, primary_key=True)
    establishment_id = Column(Integer, ForeignKey("establishment.id", ondelete="CASCADE"), nullable=False)
    day = Column(Date, nullable=False)
    is_open = Column(Boolean, nullable=False)
    opens_at = Column(Time)
    closes_at = Column(Time)
    note = Column(String(200))


class AttendanceTick(db.Model):
    """One tick as a phone sent it, under the id the phone generated: the same id twice is applied once."""

    __tablename__ = "attendance_tick"
    __table_args__ = (CheckConstraint("kind IN ('attendance', 'boarding')", name="ck_attendance_tick_kind"),)

    id = Column(Integer, primary_key=True)
    client_id = Column(String(64), nullable=False, unique=True)
    kind = Column(String(20), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    ticked_at = Column(UTCDateTime, nullable=False)  # the phone's clock, when the animator tapped
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)
    payload = Column(Text, nullable=False)  # the tick as received (JSON), for the record


class Attendance(db.Model):
    """One child × establishment × day: present or absent, with times when they differ from the day's."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("establishment_id", "child_id", "day", name="uq_attendance_child_day"),
        CheckConstraint(f"status IN {AttendanceStatus.ALL}", name="ck_attendance_status"),
        CheckConstraint(f"absence_reason IS NULL OR absence_reason IN {AbsenceReason.ALL}",
                        name="ck_attendance_absence_reason"),
        CheckConstraint("corrected_minutes IS NULL OR corrected_minutes >= 0", name="ck_attendance_corrected"),
        UniqueConstraint("credit_note_id", name="uq_attendance_credit_note_id"),
    )

    id = Column(Integer, primary_key=True)
    establishment_id = Column(Integer, ForeignKey("establishment.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="SET NULL"), index=True)
    day = Column(Date, nullable=False, index=True)
    status = Column(String(10), nullable=False)
    arrived_at = Column(Time)  # None: at opening
    left_at = Column(Time)  # None: at closing
    picked_up_by = Column(String(200))
    pickup_unlisted = Column(Boolean, nullable=False, default=False)  # not one of the authorised people
    absence_reason = Column(String(20))
    # Staff's correction of the realised hours, with its reason (audited).
    corrected_minutes = Column(Integer)
    correction_reason = Column(Text)
    # The avoir a justified absence gave (operations.absence_credit): one at most per child-day.
    credit_note_id = Column(Integer, ForeignKey("credit_note.id", ondelete="SET NULL"))
    last_tick_at = Column(UTCDateTime)  # the phone time of the tick that set this state
    updated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    child = relationship("Child")
    establishment = relationship("Establishment")
    reservation = relationship("Reservation")
    credit_note = relationship("CreditNote")


class Boarding(db.Model):
    """One child × circuit × day × leg: boarded, got off."""

    __tablename__ = "boarding"
    __table_args__ = (
        UniqueConstraint("circuit_id", "child_id", "day", "leg", name="uq_boarding_child_day_leg"),
        CheckConstraint(f"leg IN {BoardingLeg.ALL}", name="ck_boarding_leg"),
    )

    id = Column(Integer, primary_key=True)
    circuit_id = Column(Integer, ForeignKey("circuit.id", ondelete="CASCADE"), nullable=False, index=True)
    stop_id = Column(Integer, ForeignKey("stop.id", ondelete="CASCADE"), nullable=False)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    day = Column(Date, nullable=False)
    leg = Column(String(10), nullable=False)
    boarded = Column(Boolean, nullable=False, default=False)
    got_off = Column(Boolean, nullable=False, default=False)
    last_tick_at = Column(UTCDateTime)
    updated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
