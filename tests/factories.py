"""Test data builders: a store, staff and a customer with a vehicle, as the DMS would send."""

from __future__ import annotations

from typing import Any

from bot.models import Customer, Role, Staff, Store, Vehicle


async def store(code: str = "SZ01", name: str = "深圳福田4S店") -> Store:
    return await Store.create(code=code, name=name, phone="0755-88886666", address="深圳市福田区车公庙")


async def staff(
    shop: Store | None,
    role: Role = Role.ADVISOR,
    *,
    name: str = "李顾问",
    phone: str = "13900000001",
    **fields: Any,
) -> Staff:
    return await Staff.create(name=name, phone=phone, role=role, store=shop, **fields)


async def customer_with_car(
    shop: Store,
    *,
    phone: str = "13812345678",
    plate: str = "粤B12345",
    name: str = "张先生",
    advisor: Staff | None = None,
) -> tuple[Customer, Vehicle]:
    customer = await Customer.create(name=name, phone=phone, store=shop, advisor=advisor)
    vehicle = await Vehicle.create(customer=customer, store=shop, plate=plate, model_name="雅阁")
    return customer, vehicle
