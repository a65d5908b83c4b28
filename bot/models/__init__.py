"""Tortoise models, one module per aggregate. `MODELS` is what Tortoise and aerich load."""

from bot.models.complaint import Complaint, ComplaintEvent, ComplaintPhoto, ComplaintPolicy
from bot.models.customer import Customer, Follower
from bot.models.inbound import InboundMessage
from bot.models.insurance import InsurancePolicy
from bot.models.outbox import MessageCategory, Outbox, OutboxStatus
from bot.models.staff import Role, Staff
from bot.models.store import Store
from bot.models.vehicle import Vehicle

MODELS = [
    "bot.models.store",
    "bot.models.staff",
    "bot.models.customer",
    "bot.models.vehicle",
    "bot.models.insurance",
    "bot.models.outbox",
    "bot.models.inbound",
    "bot.models.complaint",
    "bot.models.audit",
    "bot.models.api_token",
    "aerich.models",
]

__all__ = [
    "MODELS",
    "Complaint",
    "ComplaintEvent",
    "ComplaintPhoto",
    "ComplaintPolicy",
    "Customer",
    "Follower",
    "InboundMessage",
    "InsurancePolicy",
    "MessageCategory",
    "Outbox",
    "OutboxStatus",
    "Role",
    "Staff",
    "Store",
    "Vehicle",
]
