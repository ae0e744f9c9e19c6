"""cancellations and credits: per-period cancellation rules, late requests, credit notes (avoirs)
with a gapless yearly number, credit uses

Revision ID: a7c3e9d2f5b1
Revises: f3a8c2d1e6b7
Create Date: 2026-12-05 09:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7c3e9d2f5b1'
down_revision = 'f3a8c2d1e6b7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cancellation_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('free_days_before', sa.Integer(), nullable=False),
    sa.Column('late_with_justification', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('free_days_before >= 0 AND free_days_before <= 365', name='ck_cancellation_days'),
    sa.CheckConstraint("outcome IN ('credit', 'refund')", name='ck_cancellation_outcome'),
    sa.ForeignKeyConstraint(['period_id'], ['period.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period_id')
    )
    op.create_table('cancellation_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'refused')", name='ck_cancellation_request_status'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cancellation_request', schema=None) as batch_op:
        batch_op.create_index('ix_cancellation_request_reservation_id', ['reservation_id'], unique=False)
        batch_op.create_index('ix_cancellation_request_household_id', ['household_id'], unique=False)
        batch_op.create_index('ix_cancellation_request_document_id', ['document_id'], unique=False)
        batch_op.create_index('ix_cancellation_request_decided_by_id', ['decided_by_id'], unique=False)
        batch_op.create_index('ix_cancellation_request_status', ['status'], unique=False)
        batch_op.create_index('uq_cancellation_request_pending', ['reservation_id'], unique=True,
                              postgresql_where=sa.text("status = 'pending'"),
                              sqlite_where=sa.text("status = 'pending'"))
    op.create_table('credit_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_cents > 0', name='ck_credit_note_amount'),
    sa.CheckConstraint("kind IN ('cancellation', 'grant')", name='ck_credit_note_kind'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number'),
    sa.UniqueConstraint('year', 'sequence', name='uq_credit_note_year_sequence')
    )
    with op.batch_alter_table('credit_note', schema=None) as batch_op:
        batch_op.create_index('ix_credit_note_household_id', ['household_id'], unique=False)
        batch_op.create_index('ix_credit_note_reservation_id', ['reservation_id'], unique=False)
        batch_op.create_index('ix_credit_note_created_by_id', ['created_by_id'], unique=False)
    op.create_table('credit_use',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_cents > 0', name='ck_credit_use_amount'),
    sa.CheckConstraint("kind IN ('checkout', 'withdrawal', 'refund_card', 'refund_regie')", name='ck_credit_use_kind'),
    sa.CheckConstraint("kind <> 'checkout' OR payment_id IS NOT NULL", name='ck_credit_use_checkout_payment'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_use', schema=None) as batch_op:
        batch_op.create_index('ix_credit_use_household_id', ['household_id'], unique=False)
        batch_op.create_index('ix_credit_use_payment_id', ['payment_id'], unique=True)
        batch_op.create_index('ix_credit_use_created_by_id', ['created_by_id'], unique=False)
    op.create_table('document_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'year', name='uq_document_counter_kind_year')
    )


def downgrade():
    op.drop_table('document_counter')
    op.drop_table('credit_use')
    op.drop_table('credit_note')
    op.drop_table('cancellation_request')
    op.drop_table('cancellation_rules')
