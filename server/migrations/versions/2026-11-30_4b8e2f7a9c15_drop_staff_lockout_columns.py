"""drop staff.failed_logins and staff.locked_until: sign-in throttling (rate_counter) replaced the account lockout

Revision ID: 4b8e2f7a9c15
Revises: 7d3e9a41c2b8
Create Date: 2026-11-30 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '4b8e2f7a9c15'
down_revision: Union[str, None] = '7d3e9a41c2b8'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
