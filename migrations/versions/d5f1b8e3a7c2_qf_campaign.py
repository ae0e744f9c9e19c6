"""qf_campaign: the yearly QF renewal campaign (issue 19)

Revision ID: d5f1b8e3a7c2
Revises: c2e7a5d9f3b8
Create Date: 2026-12-06 21:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd5f1b8e3a7c2'
down_revision = 'c2e7a5d9f3b8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'qf_campaign',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_by_id', sa.Integer(), nullable=True),
        sa.Column('households_asked', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['started_by_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_qf_campaign_started_at', 'qf_campaign', ['started_at'])
    op.create_index('ix_qf_campaign_started_by_id', 'qf_campaign', ['started_by_id'])


def downgrade():
    op.drop_table('qf_campaign')
