"""opening-day hold in one round trip: the pf_hold_v1 function (issue 21, PostgreSQL only)

Revision ID: c7d2e9a4b1f8
Revises: b4e8d1a6c3f9
Create Date: 2026-12-07 00:40:00.000000

The function's text lives in app/models/hold_function.py (create_all installs the same text for
tests and the bench). A change to it is a new function name (pf_hold_v2) and a new migration.
"""
from alembic import op

from app.models.hold_function import CREATE_HOLD_FUNCTION_V1, DROP_HOLD_FUNCTION_V1

# revision identifiers, used by Alembic.
revision = 'c7d2e9a4b1f8'
down_revision = 'b4e8d1a6c3f9'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_HOLD_FUNCTION_V1)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_HOLD_FUNCTION_V1)
