"""calendar_feed: each household's secret ICS feed address (issue 20)

Revision ID: f7b2c9d4e1a6
Revises: a7c3e9f1b2d5
Create Date: 2026-12-06 20:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f7b2c9d4e1a6'
down_revision = 'a7c3e9f1b2d5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'calendar_feed',
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('household_id'),
        sa.UniqueConstraint('token'),
    )


def downgrade():
    op.drop_table('calendar_feed')
