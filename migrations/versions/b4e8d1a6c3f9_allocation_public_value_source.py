"""wish campaign: the announced source of the draw's public value (issue 15)

Revision ID: b4e8d1a6c3f9
Revises: e9a3c6f2d8b4
Create Date: 2026-12-06 21:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b4e8d1a6c3f9'
down_revision = 'e9a3c6f2d8b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('allocation_rules') as batch:
        batch.add_column(sa.Column('public_value_source', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('allocation_rules') as batch:
        batch.drop_column('public_value_source')
