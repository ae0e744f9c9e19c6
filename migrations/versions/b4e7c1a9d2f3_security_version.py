"""security_version: the permissions version the parent API's gate caches roles by (issue 21)

Revision ID: b4e7c1a9d2f3
Revises: d1f6a3b8e2c4
Create Date: 2026-12-05 09:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b4e7c1a9d2f3'
down_revision = 'd1f6a3b8e2c4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'security_version',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('security_version')
