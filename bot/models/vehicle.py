"""A customer's vehicle, keyed by plate (and VIN when the DMS has it)."""

from tortoise import fields
from tortoise.models import Model


class Vehicle(Model):
    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Customer", related_name="vehicles", on_delete=fields.CASCADE
    )
    store: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Store", related_name="vehicles", null=True, on_delete=fields.SET_NULL
    )
    plate = fields.CharField(max_length=16, unique=True)
    vin = fields.CharField(max_length=17, unique=True, null=True)
    model_name = fields.CharField(max_length=100, default="")
    purchase_date = fields.DateField(null=True)
    mileage_km = fields.IntField(null=True)
    last_service_date = fields.DateField(null=True)
    last_service_mileage_km = fields.IntField(null=True)
    warranty_end = fields.DateField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "vehicle"
        ordering = ["id"]
