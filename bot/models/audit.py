"""Who looked at which customer record, and when: personal information access is auditable (PIPL)."""

from tortoise import fields
from tortoise.models import Model


class CustomerViewLog(Model):
    """One staff view of a customer's detail page (or API record); rows are only ever added."""

    id = fields.BigIntField(primary_key=True)
    staff: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Staff", related_name="customer_views", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Customer", related_name="staff_views", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "customer_view_log"
        ordering = ["-at", "-id"]
