"""attendance: animators' assignments, open days and hours, ticks, attendance, boarding; household scheme

Revision ID: f3a8c2d1e6b7
Revises: e5f2a9c7b1d4
Create Date: 2026-12-05 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f3a8c2d1e6b7'
down_revision = 'e5f2a9c7b1d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('household') as batch:
        batch.add_column(sa.Column('benefit_scheme', sa.String(length=10), nullable=True))

    op.create_table('animator_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.Column('circuit_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(establishment_id IS NULL) <> (circuit_id IS NULL)', name='ck_animator_assignment_target'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['circuit_id'], ['circuit.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'establishment_id', name='uq_animator_establishment'),
    sa.UniqueConstraint('user_id', 'circuit_id', name='uq_animator_circuit'),
    )
    op.create_index('ix_animator_assignment_user_id', 'animator_assignment', ['user_id'])
    op.create_index('ix_animator_assignment_establishment_id', 'animator_assignment', ['establishment_id'])
    op.create_index('ix_animator_assignment_circuit_id', 'animator_assignment', ['circuit_id'])

    op.create_table('establishment_hours',
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.Time(), nullable=False),
    sa.Column('closes_at', sa.Time(), nullable=False),
    sa.CheckConstraint('closes_at > opens_at', name='ck_establishment_hours'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('establishment_id'),
    )

    op.create_table('open_day_override',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('opens_at', sa.Time(), nullable=True),
    sa.Column('closes_at', sa.Time(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.CheckConstraint('opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at', name='ck_open_day_hours'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('establishment_id', 'day', name='uq_open_day_override'),
    )

    op.create_table('attendance_tick',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ticked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.CheckConstraint("kind IN ('attendance', 'boarding')", name='ck_attendance_tick_kind'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id'),
    )
    op.create_index('ix_attendance_tick_user_id', 'attendance_tick', ['user_id'])

    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('arrived_at', sa.Time(), nullable=True),
    sa.Column('left_at', sa.Time(), nullable=True),
    sa.Column('picked_up_by', sa.String(length=200), nullable=True),
    sa.Column('pickup_unlisted', sa.Boolean(), nullable=False),
    sa.Column('absence_reason', sa.String(length=20), nullable=True),
    sa.Column('corrected_minutes', sa.Integer(), nullable=True),
    sa.Column('correction_reason', sa.Text(), nullable=True),
    sa.Column('last_tick_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('present', 'absent')", name='ck_attendance_status'),
    sa.CheckConstraint("absence_reason IS NULL OR absence_reason IN ('justified', 'unjustified')",
                       name='ck_attendance_absence_reason'),
    sa.CheckConstraint('corrected_minutes IS NULL OR corrected_minutes >= 0', name='ck_attendance_corrected'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['child_id'], ['child.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('establishment_id', 'child_id', 'day', name='uq_attendance_child_day'),
    )
    op.create_index('ix_attendance_establishment_id', 'attendance', ['establishment_id'])
    op.create_index('ix_attendance_child_id', 'attendance', ['child_id'])
    op.create_index('ix_attendance_reservation_id', 'attendance', ['reservation_id'])
    op.create_index('ix_attendance_day', 'attendance', ['day'])

    op.create_table('boarding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('circuit_id', sa.Integer(), nullable=False),
    sa.Column('stop_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('leg', sa.String(length=10), nullable=False),
    sa.Column('boarded', sa.Boolean(), nullable=False),
    sa.Column('got_off', sa.Boolean(), nullable=False),
    sa.Column('last_tick_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("leg IN ('morning', 'evening')", name='ck_boarding_leg'),
    sa.ForeignKeyConstraint(['circuit_id'], ['circuit.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stop_id'], ['stop.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['child_id'], ['child.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('circuit_id', 'child_id', 'day', 'leg', name='uq_boarding_child_day_leg'),
    )
    op.create_index('ix_boarding_circuit_id', 'boarding', ['circuit_id'])
    op.create_index('ix_boarding_child_id', 'boarding', ['child_id'])


def downgrade():
    op.drop_table('boarding')
    op.drop_table('attendance')
    op.drop_table('attendance_tick')
    op.drop_table('open_day_override')
    op.drop_table('establishment_hours')
    op.drop_table('animator_assignment')
    with op.batch_alter_table('household') as batch:
        batch.drop_column('benefit_scheme')
