"""unrounded pound weights: kg recomputed from what the patient typed (clinical reference v2, section 4a)

Weights entered in pounds were stored as kg rounded to 2 decimals, which turned an exact 10.0% or 20.0% loss into
9.99% or 19.99% for many whole-pound baselines. New entries store kg unrounded; this data migration brings the
existing rows in line:

* weight_entry rows entered in lb: kg = entered_value x 0.45359237 (exact, from the stored entered value);
* patients whose unit is lb: the baseline's entered value was not stored, so the baseline is replaced by the
  one-decimal pound value it was rounded from, when that value rounds to the stored kg (a change of less than
  0.005 kg, within the rounding already applied); other baselines are left as they are.

Downgrade rounds the same values back to 2 decimals, as the previous code stored them.

Revision ID: 5b1e0c7a9d21
Revises: 383feb54cae7
Create Date: 2026-11-29 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '5b1e0c7a9d21'
down_revision: Union[str, None] = '383feb54cae7'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KG_PER_LB = 0.45359237  # a copy, not an import: a migration must not change when application code does

weight_entry = sa.table('weight_entry', sa.column('id', sa.Integer), sa.column('kg', sa.Float),
                        sa.column('entered_value', sa.Float), sa.column('entered_unit', sa.String))
patient = sa.table('patient', sa.column('id', sa.Integer), sa.column('baseline_weight_kg', sa.Float),
                   sa.column('weight_unit', sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(weight_entry.c.id, weight_entry.c.entered_value)
                            .where(weight_entry.c.entered_unit == 'lb')).all():
        bind.execute(weight_entry.update().where(weight_entry.c.id == row.id)
                     .values(kg=row.entered_value * KG_PER_LB))
    for row in bind.execute(sa.select(patient.c.id, patient.c.baseline_weight_kg)
                            .where(patient.c.weight_unit == 'lb')).all():
        pounds = round(row.baseline_weight_kg / KG_PER_LB, 1)
        if round(pounds * KG_PER_LB, 2) == round(row.baseline_weight_kg, 2):
            bind.execute(patient.update().where(patient.c.id == row.id)
                         .values(baseline_weight_kg=pounds * KG_PER_LB))


def downgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(weight_entry.c.id, weight_entry.c.kg)
                            .where(weight_entry.c.entered_unit == 'lb')).all():
        bind.execute(weight_entry.update().where(weight_entry.c.id == row.id).values(kg=round(row.kg, 2)))
    for row in bind.execute(sa.select(patient.c.id, patient.c.baseline_weight_kg)
                            .where(patient.c.weight_unit == 'lb')).all():
        bind.execute(patient.update().where(patient.c.id == row.id)
                     .values(baseline_weight_kg=round(row.baseline_weight_kg, 2)))
