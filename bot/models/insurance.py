"""A vehicle's insurance policy; its end date drives the renewal (续保) reminders."""

from tortoise import fields
from tortoise.models import Model


class InsurancePolicy(Model):
    id = fields.IntField(primary_key=True)
    vehicle: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Vehicle", related_name="policies", on_delete=fields.CASCADE
    )
    insurer = fields.CharField(max_length=100, default="")
    policy_no = fields.CharField(max_length=64, unique=True)
    starts_on = fields.DateField(null=True)
    ends_on = fields.DateField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "insurance_policy"
        ordering = ["ends_on"]
