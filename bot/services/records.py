"""Upserts of the DMS's records by natural key: customers by phone, vehicles by plate (or VIN),
insurance policies by policy number.

The JSON API and the file import both write through here, a batch at a time: one query to find
what exists, one bulk insert, one bulk update, all in one transaction. Each item comes back with
its outcome (created, updated, unchanged) or the reason it was refused, so one bad item never
stops the good ones. A field given as None means "not given": the stored value is kept, because
a DMS sends what it knows and an export with an empty column must not erase data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot.models import Customer, InsurancePolicy, Role, Staff, Store, Vehicle

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)
D = TypeVar("D")


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


class Problem(StrEnum):
    """Why an item was refused; the API and the import each word it for their readers."""

    UNKNOWN_STORE = "unknown_store"
    UNKNOWN_ADVISOR = "unknown_advisor"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    VIN_TAKEN = "vin_taken"  # the VIN is on record for another plate's vehicle
    VIN_MISMATCH = "vin_mismatch"  # the plate is on record with another VIN
    DATES_REVERSED = "dates_reversed"  # a policy ending before it starts

    @property
    def is_conflict(self) -> bool:
        """A clash with what is stored (HTTP 409), rather than an invalid reference (422)."""
        return self in (Problem.VIN_TAKEN, Problem.VIN_MISMATCH)


@dataclass(frozen=True)
class Refusal:
    field: str  # the item's field at fault, e.g. "store_id", "vin", "owner.store_id"
    problem: Problem


@dataclass(frozen=True)
class Result(Generic[M]):
    outcome: Outcome
    record: M | None = None
    refusal: Refusal | None = None


@dataclass(frozen=True)
class CustomerData:
    phone: str
    name: str | None = None
    store_id: int | None = None
    advisor_id: int | None = None


@dataclass(frozen=True)
class VehicleData:
    plate: str
    owner: CustomerData
    vin: str | None = None
    model_name: str | None = None
    purchase_date: date | None = None
    mileage_km: int | None = None
    last_service_date: date | None = None
    last_service_mileage_km: int | None = None
    warranty_end: date | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class PolicyData:
    policy_no: str
    plate: str
    ends_on: date
    starts_on: date | None = None
    insurer: str | None = None


Upsert = Callable[[Sequence[D]], Awaitable[list[Result[Any]]]]


class _Rollback(Exception):
    def __init__(self, results: list[Result[Any]]) -> None:
        self.results = results


async def save_batch(upsert: Upsert[D], items: Sequence[D], *, dry_run: bool = False) -> list[Result[Any]]:
    """Run one batch in one transaction; with `dry_run` roll it back and only report.

    Finding and inserting are two statements, so a concurrent writer may insert the same key in
    between: the unique constraint refuses the second insert, and the retry finds the row and
    updates it instead.
    """
    for attempt in (1, 2):
        try:
            async with in_transaction():
                results = await upsert(items)
                if dry_run:
                    raise _Rollback(results)
            return results
        except _Rollback as rollback:
            return rollback.results
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("upsert raced a concurrent insert; retrying", extra={"items": len(items)})
    raise AssertionError("unreachable")


@dataclass
class _Batch(Generic[M]):
    """The writes one batch adds up to, and each item's result in item order."""

    model: type[M]
    key: str
    results: list[Result[M]] = field(default_factory=list)
    new: dict[int, M] = field(default_factory=dict)  # id(instance) -> instance
    changed: dict[int, M] = field(default_factory=dict)
    changed_fields: set[str] = field(default_factory=set)

    def refuse(self, field_name: str, problem: Problem) -> None:
        self.results.append(Result(Outcome.REFUSED, refusal=Refusal(field_name, problem)))

    def create(self, instance: M) -> None:
        self.new[id(instance)] = instance
        self.results.append(Result(Outcome.CREATED, instance))

    def merge(self, instance: M, values: Mapping[str, object], *, related_changed: bool = False) -> None:
        """Apply the given (non-None) values; the item is an update if any differs, or if a record
        it brought along (a vehicle's owner) changed."""
        differing = {
            name for name, value in values.items() if value is not None and getattr(instance, name) != value
        }
        for name in differing:
            setattr(instance, name, values[name])
        if differing and id(instance) not in self.new:
            self.changed[id(instance)] = instance
            self.changed_fields |= differing
        outcome = Outcome.UPDATED if differing or related_changed else Outcome.UNCHANGED
        self.results.append(Result(outcome, instance))

    async def write(self) -> list[Result[M]]:
        """Updates first: a plate moved off one vehicle may be the plate of a new one."""
        if self.changed:
            fields = sorted(self.changed_fields | {"updated_at"})
            await self.model.bulk_update(self.changed.values(), fields=fields)
        if self.new:
            await self.model.bulk_create(self.new.values())
            await self._load_ids(list(self.new.values()))
        return self.results

    async def _load_ids(self, created: list[M]) -> None:
        """bulk_create does not return primary keys on every database; read them back by key."""
        keys = [getattr(instance, self.key) for instance in created]
        stored = dict(await self.model.filter(**{f"{self.key}__in": keys}).values_list(self.key, "id"))
        for instance in created:
            instance.pk = stored[getattr(instance, self.key)]
            instance._saved_in_db = True


def _given(values: Mapping[str, object]) -> dict[str, object]:
    return {name: value for name, value in values.items() if value is not None}


async def _existing_ids(query: QuerySet[Any], ids: Iterable[int | None]) -> set[int]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    return {row.pk for row in await query.filter(id__in=wanted).only("id")}


async def upsert_customers(items: Sequence[CustomerData]) -> list[Result[Customer]]:
    """Customers by phone. A store or advisor id must exist (the advisor active, an advisor)."""
    stores = await _existing_ids(Store.all(), (item.store_id for item in items))
    advisors = await _existing_ids(
        Staff.filter(role=Role.ADVISOR, active=True), (item.advisor_id for item in items)
    )
    by_phone = {c.phone: c for c in await Customer.filter(phone__in={item.phone for item in items})}
    batch = _Batch(Customer, "phone")
    for item in items:
        if item.store_id is not None and item.store_id not in stores:
            batch.refuse("store_id", Problem.UNKNOWN_STORE)
            continue
        if item.advisor_id is not None and item.advisor_id not in advisors:
            batch.refuse("advisor_id", Problem.UNKNOWN_ADVISOR)
            continue
        customer = by_phone.get(item.phone)
        if customer is None:
            customer = by_phone[item.phone] = Customer(
                phone=item.phone, name=item.name or "", store_id=item.store_id, advisor_id=item.advisor_id
            )
            batch.create(customer)
        else:
            batch.merge(
                customer, {"name": item.name, "store_id": item.store_id, "advisor_id": item.advisor_id}
            )
    return await batch.write()


async def upsert_vehicles(items: Sequence[VehicleData]) -> list[Result[Vehicle]]:
    """Vehicles by VIN when given and known, else by plate; their owners upserted by phone.

    A VIN on record under another plate is a re-plated car (the plate is updated); a plate on
    record with a different VIN, or a VIN and a plate naming two different cars, is refused, and
    a refused vehicle leaves its owner untouched too.
    """
    matches = await _match_vehicles(items)
    accepted = [item for item, match in zip(items, matches, strict=True) if isinstance(match, Vehicle)]
    owners = iter(await upsert_customers([item.owner for item in accepted]))
    batch = _Batch(Vehicle, "plate")
    for item, match in zip(items, matches, strict=True):
        if isinstance(match, Refusal):
            batch.refuse(match.field, match.problem)
            continue
        owner = next(owners)
        if owner.refusal is not None:
            batch.refuse(f"owner.{owner.refusal.field}", owner.refusal.problem)
            continue
        assert owner.record is not None, "an owner that is not refused has its record"
        values = {
            "plate": item.plate,
            "customer_id": owner.record.pk,
            "vin": item.vin,
            "model_name": item.model_name,
            "purchase_date": item.purchase_date,
            "mileage_km": item.mileage_km,
            "last_service_date": item.last_service_date,
            "last_service_mileage_km": item.last_service_mileage_km,
            "warranty_end": item.warranty_end,
            "store_id": item.store_id,
        }
        if match.pk is None and id(match) not in batch.new:
            match.update_from_dict(_given(values))
            batch.create(match)
        else:
            batch.merge(match, values, related_changed=owner.outcome is not Outcome.UNCHANGED)
    return await batch.write()


async def _match_vehicles(items: Sequence[VehicleData]) -> list[Vehicle | Refusal]:
    """The stored (or, for a new plate, unsaved) vehicle each item is about, or why it is refused.

    Items are matched in order, each seeing the earlier ones as applied, so a plate or VIN named
    twice in a batch means one vehicle.
    """
    stores = await _existing_ids(Store.all(), (item.store_id for item in items))
    named = Q(plate__in={item.plate for item in items}) | Q(vin__in={item.vin for item in items if item.vin})
    stored = await Vehicle.filter(named)
    by_plate = {v.plate: v for v in stored}
    by_vin = {v.vin: v for v in stored if v.vin}
    matches: list[Vehicle | Refusal] = []
    for item in items:
        plated = by_plate.get(item.plate)
        known_vin = by_vin.get(item.vin) if item.vin else None
        vehicle = known_vin or plated
        if item.store_id is not None and item.store_id not in stores:
            matches.append(Refusal("store_id", Problem.UNKNOWN_STORE))
        elif known_vin is not None and plated is not None and known_vin is not plated:
            matches.append(Refusal("vin", Problem.VIN_TAKEN))
        elif vehicle is not None and item.vin and vehicle.vin and vehicle.vin != item.vin:
            matches.append(Refusal("vin", Problem.VIN_MISMATCH))
        else:
            vehicle = vehicle or Vehicle(plate=item.plate)
            if vehicle.plate != item.plate:
                by_plate.pop(vehicle.plate, None)
            by_plate[item.plate] = vehicle
            if item.vin:
                by_vin[item.vin] = vehicle
            matches.append(vehicle)
    return matches


async def upsert_policies(items: Sequence[PolicyData]) -> list[Result[InsurancePolicy]]:
    """Policies by number; the insured vehicle, named by plate, must be on record."""
    vehicles = dict(await Vehicle.filter(plate__in={item.plate for item in items}).values_list("plate", "id"))
    numbers = {item.policy_no for item in items}
    by_number = {p.policy_no: p for p in await InsurancePolicy.filter(policy_no__in=numbers)}
    batch = _Batch(InsurancePolicy, "policy_no")
    for item in items:
        vehicle_id = vehicles.get(item.plate)
        if vehicle_id is None:
            batch.refuse("plate", Problem.UNKNOWN_VEHICLE)
            continue
        policy = by_number.get(item.policy_no)
        starts_on = item.starts_on or (policy.starts_on if policy else None)
        if starts_on is not None and starts_on > item.ends_on:
            batch.refuse("ends_on", Problem.DATES_REVERSED)
            continue
        values = {
            "vehicle_id": vehicle_id,
            "ends_on": item.ends_on,
            "starts_on": item.starts_on,
            "insurer": item.insurer,
        }
        if policy is None:
            policy = by_number[item.policy_no] = InsurancePolicy(
                policy_no=item.policy_no,
                **{name: value for name, value in values.items() if value is not None},
            )
            batch.create(policy)
        else:
            batch.merge(policy, values)
    return await batch.write()
