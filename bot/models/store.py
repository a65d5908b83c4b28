"""A dealership store (4S店): where customers are served and staff work."""

from tortoise import fields
from tortoise.models import Model


class Store(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=100)
    address = fields.CharField(max_length=255, default="")
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    phone = fields.CharField(max_length=32, default="")
    hours = fields.CharField(max_length=100, default="")
    rescue_radius_km = fields.FloatField(default=30.0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
