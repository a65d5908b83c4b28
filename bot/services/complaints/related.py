"""The customer's recent work orders and bookings, offered as what a complaint is about.

Work orders and appointments are their own aggregates (SPEC §2-3); this module only reads them,
by model name through Tortoise's registry, so complaints work whether or not those models are
installed: with none of them, or none for this customer, there is simply nothing to offer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import Tortoise
from tortoise.models import Model

# (kind stored on the complaint, Tortoise model name)
SOURCES = (("work_order", "WorkOrder"), ("appointment", "Appointment"))
RECENT = 3


@dataclass(frozen=True)
class RelatedRecord:
    kind: str
    id: int
    label: str  # the record's own number when it has one


async def recent_for(customer_id: int, *, per_kind: int = RECENT) -> list[RelatedRecord]:
    records: list[RelatedRecord] = []
    for kind, model_name in SOURCES:
        model = installed_model(model_name)
        if model is None:
            continue
        owner = _owner_filter(model, customer_id)
        if owner is None:
            continue
        for row in await model.filter(**owner).order_by("-id").limit(per_kind):
            label = str(getattr(row, "number", "") or row.pk)
            records.append(RelatedRecord(kind, int(row.pk), label))
    return records


def installed_model(name: str) -> type[Model] | None:
    """A model of another aggregate if it is installed (work orders and bookings may not be)."""
    apps = Tortoise.apps
    return apps["models"].get(name) if apps is not None and "models" in apps else None


def _owner_filter(model: type[Model], customer_id: int) -> dict[str, int] | None:
    """How the model points at its customer: directly, or through the vehicle."""
    fields = model._meta.fields_map
    if "customer" in fields:
        return {"customer_id": customer_id}
    if "vehicle" in fields:
        return {"vehicle__customer_id": customer_id}
    return None
