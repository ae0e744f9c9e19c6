"""pf_hold_v2: a bus circuit or stop deleted in the instant of a hold goes back to the ORM path (issue 21)

Revision ID: d3f6a1c8e2b5
Revises: c7d2e9a4b1f8
Create Date: 2026-12-07 03:00:00.000000

v1 took a circuit that vanished between the catalogue snapshot's read and the call for a bus with
no limit, and failed on the line's foreign key (an error page). v2 hands that case to the ORM path,
whose « invalid_stop » tells the parent the stop is no longer offered. Texts: app/models/hold_function.py.
"""
from alembic import op

from app.models.hold_function import (
    CREATE_HOLD_FUNCTION,
    CREATE_HOLD_FUNCTION_V1,
    DROP_HOLD_FUNCTION,
    DROP_HOLD_FUNCTION_V1,
)

# revision identifiers, used by Alembic.
revision = 'd3f6a1c8e2b5'
down_revision = 'c7d2e9a4b1f8'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_HOLD_FUNCTION)
        op.execute(DROP_HOLD_FUNCTION_V1)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_HOLD_FUNCTION_V1)
        op.execute(DROP_HOLD_FUNCTION)
