"""household.erased_at: when a family's personal data were erased (GDPR, issue 19)

Revision ID: a7c3e9f1b2d5
Revises: c6a2f8d4e1b9
Create Date: 2026-12-06 20:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7c3e9f1b2d5'
down_revision = 'c6a2f8d4e1b9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('household') as batch:
        batch.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_household_erased_at', ['erased_at'])


def downgrade():
    with op.batch_alter_table('household') as batch:
        batch.drop_index('ix_household_erased_at')
        batch.drop_column('erased_at')
