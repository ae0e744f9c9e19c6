"""waitlist: entries, offers, per-period settings; baskets gain the 'offer' status

Revision ID: b3e8f1a2c4d6
Revises: 7c1e5a9d3b20
Create Date: 2026-12-02 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b3e8f1a2c4d6'
down_revision = '7c1e5a9d3b20'
branch_labels = None
depends_on = None

_OLD_BASKET = "status IN ('open', 'checkout', 'paid', 'expired', 'cancelled')"
_NEW_BASKET = "status IN ('open', 'checkout', 'paid', 'expired', 'cancelled', 'offer')"


def upgrade():
    with op.batch_alter_table('basket') as batch:
        batch.drop_constraint('ck_basket_status', type_='check')
        batch.create_check_constraint('ck_basket_status', _NEW_BASKET)

    op.create_table('waitlist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('week_id', sa.Integer(), nullable=False),
    sa.Column('transport_mode', sa.String(length=10), nullable=False),
    sa.Column('stop_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('waiting', 'offered', 'accepted', 'lapsed', 'withdrawn', 'closed')",
                       name='ck_waitlist_status'),
    sa.CheckConstraint("transport_mode IN ('bus', 'onsite', 'any')", name='ck_waitlist_transport'),
    sa.CheckConstraint("(transport_mode = 'onsite' AND stop_id IS NULL) OR (transport_mode = 'any') "
                       "OR (transport_mode = 'bus' AND stop_id IS NOT NULL)", name='ck_waitlist_transport_stop'),
    sa.ForeignKeyConstraint(['child_id'], ['child.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stop_id'], ['stop.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['week_id'], ['week.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_waitlist_entry_household_id', 'waitlist_entry', ['household_id'])
    op.create_index('ix_waitlist_entry_child_id', 'waitlist_entry', ['child_id'])
    op.create_index('ix_waitlist_week_status_joined', 'waitlist_entry', ['week_id', 'status', 'joined_at', 'id'])
    op.create_index('uq_waitlist_active_child_week', 'waitlist_entry', ['child_id', 'week_id'], unique=True,
                    postgresql_where=sa.text("status IN ('waiting', 'offered')"),
                    sqlite_where=sa.text("status IN ('waiting', 'offered')"))

    op.create_table('waitlist_offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('basket_id', sa.Integer(), nullable=True),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.CheckConstraint("outcome IN ('pending', 'accepted', 'lapsed', 'declined', 'withdrawn')",
                       name='ck_waitlist_offer_outcome'),
    sa.ForeignKeyConstraint(['actor_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['basket_id'], ['basket.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entry.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_waitlist_offer_entry_id', 'waitlist_offer', ['entry_id'])
    op.create_index('ix_waitlist_offer_reservation_id', 'waitlist_offer', ['reservation_id'])
    op.create_index('ix_waitlist_offer_basket_id', 'waitlist_offer', ['basket_id'])
    op.create_index('ix_waitlist_offer_outcome_expires', 'waitlist_offer', ['outcome', 'expires_at'])
    op.create_index('uq_waitlist_offer_pending_entry', 'waitlist_offer', ['entry_id'], unique=True,
                    postgresql_where=sa.text("outcome = 'pending'"), sqlite_where=sa.text("outcome = 'pending'"))

    op.create_table('waitlist_settings',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('offer_hours', sa.Integer(), nullable=False),
    sa.Column('cutoff_days', sa.Integer(), nullable=False),
    sa.CheckConstraint('offer_hours >= 1', name='ck_waitlist_settings_hours'),
    sa.CheckConstraint('cutoff_days >= 0', name='ck_waitlist_settings_cutoff'),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('period_id')
    )


def downgrade():
    op.drop_table('waitlist_settings')
    op.drop_table('waitlist_offer')
    op.drop_table('waitlist_entry')
    op.execute("DELETE FROM basket WHERE status = 'offer'")
    with op.batch_alter_table('basket') as batch:
        batch.drop_constraint('ck_basket_status', type_='check')
        batch.create_check_constraint('ck_basket_status', _OLD_BASKET)
