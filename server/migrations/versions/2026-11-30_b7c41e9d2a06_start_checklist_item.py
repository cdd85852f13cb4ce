"""start_checklist_item: the start-of-therapy checklist's ticks, with who and when (issue 14 item 1)

Revision ID: b7c41e9d2a06
Revises: 4b8e2f7a9c15
Create Date: 2026-11-30 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'b7c41e9d2a06'
down_revision: Union[str, None] = '4b8e2f7a9c15'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('start_checklist_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('item', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=False),
    sa.Column('done_by_staff_id', sa.Integer(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.Column('undone_by_staff_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['done_by_staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['undone_by_staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('start_checklist_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_start_checklist_item_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('start_checklist_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_start_checklist_item_patient_id'))
    op.drop_table('start_checklist_item')
