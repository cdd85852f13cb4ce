"""dexamethasone during a selinexor hold: the staff choice stored on the plan (clinical reference v2, section 1)

A selinexor hold never silently stops the partner drugs: the staff member holding selinexor chooses what happens to
dexamethasone (continue as prescribed / hold too). Existing plan versions, including plans held today, get
`continue`: the previous code dropped dexamethasone silently, which the reference now forbids, and staff see the
stored choice on the plan page.

Revision ID: 9c4d2e6f1a37
Revises: 31c1fadce10f
Create Date: 2026-11-30 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '9c4d2e6f1a37'
down_revision: Union[str, None] = '31c1fadce10f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('treatment_plan') as batch:
        batch.add_column(sa.Column('dexamethasone_on_hold', sqlmodel.sql.sqltypes.AutoString(length=8),
                                   nullable=False, server_default='continue'))


def downgrade() -> None:
    with op.batch_alter_table('treatment_plan') as batch:
        batch.drop_column('dexamethasone_on_hold')
