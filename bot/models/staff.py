"""Staff members and their roles. GM and admin see all stores; everyone else one store."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    ADVISOR = "advisor"
    RESCUE_DISPATCHER = "rescue_dispatcher"
    INSURANCE_SPECIALIST = "insurance_specialist"
    SERVICE_MANAGER = "service_manager"  # 客服经理
    AFTERSALES_MANAGER = "aftersales_manager"  # 售后经理
    GM = "gm"
    ADMIN = "admin"

    @property
    def is_group_wide(self) -> bool:
        return self in (Role.GM, Role.ADMIN)


class Staff(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50)
    phone = fields.CharField(max_length=20, unique=True)
    username = fields.CharField(max_length=50, unique=True, null=True)
    password_hash = fields.CharField(max_length=255, default="")
    role = fields.CharEnumField(Role, max_length=32)
    store: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Store", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    on_duty = fields.BooleanField(default=True)
    active = fields.BooleanField(default=True)
    # bumped when the member is deactivated: the admin sessions opened before end for good
    credential_version = fields.IntField(default=0)
    openid = fields.CharField(max_length=64, unique=True, null=True)
    qr_scene = fields.CharField(max_length=64, unique=True, null=True)
    # a one-time WeChat binding token "<random>.<expiry epoch>" (bot/services/staff_binding.py)
    bind_token = fields.CharField(max_length=64, unique=True, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"
