"""household file v2: dated, sourced QF records and desk invitations

Revision ID: c9d4e7f1a2b3
Revises: b3e8f1a2c4d6
Create Date: 2026-12-05 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c9d4e7f1a2b3'
down_revision = 'b3e8f1a2c4d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('quotient_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value >= 0', name='ck_quotient_record_value'),
    sa.CheckConstraint("source IN ('caf', 'msa', 'tax_notice')", name='ck_quotient_record_source'),
    sa.CheckConstraint('valid_to IS NULL OR valid_to >= valid_from', name='ck_quotient_record_dates'),
    sa.ForeignKeyConstraint(['entered_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_quotient_record_household_id', 'quotient_record', ['household_id'])
    op.create_index('ix_quotient_record_entered_by_id', 'quotient_record', ['entered_by_id'])
    op.create_table('household_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_household_invitation_household_id', 'household_invitation', ['household_id'])
    op.create_index('ix_household_invitation_created_by_id', 'household_invitation', ['created_by_id'])
    # Files validated before this revision keep pricing with household.quotient (no record = that QF).


def downgrade():
    op.drop_table('household_invitation')
    op.drop_table('quotient_record')
