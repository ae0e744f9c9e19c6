"""regie_refund: refunds of PayFiP payments that the régie pays by hand

Revision ID: e5f2a9c7b1d4
Revises: c9d4e7f1a2b3
Create Date: 2026-12-05 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e5f2a9c7b1d4'
down_revision = 'c9d4e7f1a2b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('regie_refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refund_key', sa.String(length=100), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('refdet', sa.String(length=30), nullable=True),
    sa.Column('payfip_idop', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('todo', 'details_requested', 'done')", name='ck_regie_refund_status'),
    sa.CheckConstraint('amount_cents > 0', name='ck_regie_refund_amount'),
    sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['done_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('refund_key')
    )
    with op.batch_alter_table('regie_refund') as batch:
        batch.create_index('ix_regie_refund_refund_id', ['refund_id'])
        batch.create_index('ix_regie_refund_payment_id', ['payment_id'])
        batch.create_index('ix_regie_refund_household_id', ['household_id'])
        batch.create_index('ix_regie_refund_status', ['status'])
        batch.create_index('ix_regie_refund_done_by_id', ['done_by_id'])


def downgrade():
    op.drop_table('regie_refund')
