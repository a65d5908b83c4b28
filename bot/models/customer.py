"""Customers as the DMS knows them, and WeChat followers as the Official Account sees them.

They are separate because they arrive separately: the DMS sends people with phones and cars,
WeChat sends openids. Binding links a follower to a customer.
"""

from tortoise import fields
from tortoise.models import Model


class Customer(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, default="")
    phone = fields.CharField(max_length=20, unique=True)
    store: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Store", related_name="customers", null=True, on_delete=fields.SET_NULL
    )
    advisor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="customers", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer"
        ordering = ["id"]


class Follower(Model):
    """A WeChat user of the Official Account, known by openid."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    customer: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Customer", related_name="followers", null=True, on_delete=fields.SET_NULL
    )
    advisor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Staff", related_name="referred_followers", null=True, on_delete=fields.SET_NULL
    )
    subscribed = fields.BooleanField(default=True)
    subscribed_at = fields.DatetimeField(null=True)
    unsubscribed_at = fields.DatetimeField(null=True)
    bound_at = fields.DatetimeField(null=True)
    bind_failures = fields.IntField(default=0)
    bind_blocked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "follower"
