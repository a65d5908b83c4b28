"""Tortoise models, one module per aggregate. `MODELS` is what Tortoise and aerich load."""

from bot.models.booking import (
    Appointment,
    AppointmentStatus,
    ClosedDay,
    ServiceType,
    SlotCapacity,
    SlotPlace,
    SlotWindow,
)
from bot.models.complaint import Complaint, ComplaintEvent, ComplaintPhoto, ComplaintPolicy
from bot.models.customer import Customer, Follower
from bot.models.inbound import InboundMessage
from bot.models.insurance import InsurancePolicy
from bot.models.outbox import MessageCategory, Outbox, OutboxStatus
from bot.models.staff import Role, Staff
from bot.models.store import Store
from bot.models.vehicle import Vehicle
from bot.models.workorder import (
    ChangeSource,
    ExtraItem,
    ExtraItemStatus,
    SettledAmountEvent,
    Settlement,
    StageChange,
    WorkOrder,
    WorkStage,
)

MODELS = [
    "bot.models.store",
    "bot.models.staff",
    "bot.models.customer",
    "bot.models.vehicle",
    "bot.models.insurance",
    "bot.models.outbox",
    "bot.models.inbound",
    "bot.models.booking",
    "bot.models.workorder",
    "bot.models.complaint",
    "bot.models.audit",
    "bot.models.api_token",
    "aerich.models",
]

__all__ = [
    "MODELS",
    "Appointment",
    "AppointmentStatus",
    "ChangeSource",
    "ClosedDay",
    "Complaint",
    "ComplaintEvent",
    "ComplaintPhoto",
    "ComplaintPolicy",
    "Customer",
    "ExtraItem",
    "ExtraItemStatus",
    "Follower",
    "InboundMessage",
    "InsurancePolicy",
    "MessageCategory",
    "Outbox",
    "OutboxStatus",
    "Role",
    "ServiceType",
    "SettledAmountEvent",
    "Settlement",
    "SlotCapacity",
    "SlotPlace",
    "SlotWindow",
    "Staff",
    "StageChange",
    "Store",
    "Vehicle",
    "WorkOrder",
    "WorkStage",
]
