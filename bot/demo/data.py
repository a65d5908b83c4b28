"""Demo data: two stores, staff of every role, customers with cars and policies, as a DMS would send.

Loading is idempotent: every row is found or created by its natural key (store code, username,
phone, plate, policy number), so `python -m bot demo` can load it on every start. One function
per data group; a feature that needs demo rows (work orders, appointments...) adds its own
`load_*` function and calls it from `load_demo_data`. Dates are relative to the day the demo
starts, so "a policy expiring soon" stays true whenever the demo is run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

from bot.models import Customer, InsurancePolicy, Role, Staff, Store, Vehicle
from bot.services.passwords import hash_password

DEMO_PASSWORD = "demo-2026"  # every demo staff login; printed by `python -m bot demo`


@dataclass(frozen=True)
class StoreSeed:
    code: str
    name: str
    address: str
    latitude: float
    longitude: float
    phone: str
    hours: str
    rescue_radius_km: float


@dataclass(frozen=True)
class StaffSeed:
    username: str
    name: str
    phone: str
    role: Role
    store_code: str | None  # None for the group-wide roles (GM, admin)

    @property
    def qr_scene(self) -> str | None:
        """Advisors hand out a personal QR code; following through it links the customer to them."""
        return f"advisor-{self.username}" if self.role is Role.ADVISOR else None


@dataclass(frozen=True)
class VehicleSeed:
    plate: str
    model_name: str
    vin: str
    age_days: int  # bought this many days before the demo starts
    mileage_km: int
    serviced_days_ago: int | None  # None: never serviced (first service due)
    serviced_at_km: int | None = None


@dataclass(frozen=True)
class CustomerSeed:
    openid: str  # the WeChat identity the simulators use to play this customer
    name: str
    phone: str
    store_code: str
    advisor_username: str | None
    vehicles: tuple[VehicleSeed, ...]


@dataclass(frozen=True)
class PolicySeed:
    policy_no: str
    plate: str
    insurer: str
    ends_in_days: int


STORES = (
    StoreSeed(
        "SZ-FT",
        "深圳福田4S店",
        "深圳市福田区泰然九路18号",
        22.5381,
        114.0247,
        "0755-88886666",
        "每天 08:30-18:00（道路救援24小时）",
        30.0,
    ),
    StoreSeed(
        "SZ-NS",
        "深圳南山4S店",
        "深圳市南山区科苑南路2888号",
        22.5329,
        113.9466,
        "0755-26668888",
        "每天 08:30-18:00（道路救援24小时）",
        25.0,
    ),
)

STAFF = (
    StaffSeed("ft_advisor1", "李明", "13900000001", Role.ADVISOR, "SZ-FT"),
    StaffSeed("ft_advisor2", "王静", "13900000002", Role.ADVISOR, "SZ-FT"),
    StaffSeed("ft_dispatcher", "赵强", "13900000003", Role.RESCUE_DISPATCHER, "SZ-FT"),
    StaffSeed("ft_insurance", "孙丽", "13900000004", Role.INSURANCE_SPECIALIST, "SZ-FT"),
    StaffSeed("ft_service_mgr", "周敏", "13900000005", Role.SERVICE_MANAGER, "SZ-FT"),
    StaffSeed("ft_aftersales_mgr", "吴刚", "13900000006", Role.AFTERSALES_MANAGER, "SZ-FT"),
    StaffSeed("ns_advisor1", "陈静", "13900000011", Role.ADVISOR, "SZ-NS"),
    StaffSeed("ns_dispatcher", "郑伟", "13900000012", Role.RESCUE_DISPATCHER, "SZ-NS"),
    StaffSeed("ns_insurance", "冯雪", "13900000013", Role.INSURANCE_SPECIALIST, "SZ-NS"),
    StaffSeed("ns_service_mgr", "何芳", "13900000014", Role.SERVICE_MANAGER, "SZ-NS"),
    StaffSeed("ns_aftersales_mgr", "许军", "13900000015", Role.AFTERSALES_MANAGER, "SZ-NS"),
    StaffSeed("gm", "林总", "13900000090", Role.GM, None),
    StaffSeed("admin", "系统管理员", "13900000099", Role.ADMIN, None),
)

CUSTOMERS = (
    CustomerSeed(
        "demo-zhangwei",
        "张伟",
        "13812345678",
        "SZ-FT",
        "ft_advisor1",
        (VehicleSeed("粤B12345", "雅阁 2.0L", "LHGCV1650N8000001", 1300, 52_000, 150, 47_000),),
    ),
    CustomerSeed(
        "demo-wangfang",
        "王芳",
        "13823456789",
        "SZ-FT",
        "ft_advisor2",
        (VehicleSeed("粤BD12345", "e:NP1 极湃1（纯电）", "LHGCV1650N8000002", 200, 8_000, None),),
    ),
    CustomerSeed(
        "demo-lina",
        "李娜",
        "13934567890",
        "SZ-FT",
        "ft_advisor1",
        (VehicleSeed("粤B67890", "CR-V 1.5T", "LHGCV1650N8000003", 1000, 38_500, 170, 33_000),),
    ),
    CustomerSeed(
        "demo-liuyang",
        "刘洋",
        "13645678901",
        "SZ-NS",
        "ns_advisor1",
        (
            VehicleSeed("粤B8K2L3", "思域 1.5T", "LHGCV1650N8000004", 2100, 96_000, 400, 80_000),
            VehicleSeed("粤BF23456", "皓影 e:PHEV（插混）", "LHGCV1650N8000005", 420, 15_000, 60, 12_000),
        ),
    ),
    CustomerSeed(
        "demo-zhaolei",
        "赵磊",
        "13756789012",
        "SZ-NS",
        None,
        (VehicleSeed("粤BA3F59", "型格 1.5T", "LHGCV1650N8000006", 600, 21_000, 90, 17_500),),
    ),
)

POLICIES = (
    PolicySeed("PICC-2026-000101", "粤B12345", "中国人保", 200),
    PolicySeed("PAIC-2026-000102", "粤B67890", "平安保险", 20),  # expiring within 30 days
    PolicySeed("CPIC-2026-000103", "粤BD12345", "太平洋保险", 75),
)

WARRANTY = timedelta(days=3 * 365)


async def load_demo_data(today: date) -> None:
    """Load every demo data group; safe to run on every start."""
    stores = await load_stores()
    staff = await load_staff(stores)
    vehicles = await load_customers(stores, staff, today)
    await load_policies(vehicles, today)


async def load_stores() -> dict[str, Store]:
    stores = {}
    for seed in STORES:
        store, _ = await Store.get_or_create(
            code=seed.code,
            defaults={
                "name": seed.name,
                "address": seed.address,
                "latitude": seed.latitude,
                "longitude": seed.longitude,
                "phone": seed.phone,
                "hours": seed.hours,
                "rescue_radius_km": seed.rescue_radius_km,
            },
        )
        stores[seed.code] = store
    return stores


async def load_staff(stores: dict[str, Store]) -> dict[str, Staff]:
    staff = {}
    for seed in STAFF:
        member, _ = await Staff.get_or_create(
            username=seed.username,
            defaults={
                "name": seed.name,
                "phone": seed.phone,
                "role": seed.role,
                "store": stores[seed.store_code] if seed.store_code else None,
                "qr_scene": seed.qr_scene,
                "password_hash": _demo_password_hash(),
            },
        )
        staff[seed.username] = member
    return staff


async def load_customers(
    stores: dict[str, Store], staff: dict[str, Staff], today: date
) -> dict[str, Vehicle]:
    """Customers and their vehicles; returns the vehicles by plate."""
    vehicles = {}
    for seed in CUSTOMERS:
        store = stores[seed.store_code]
        customer, _ = await Customer.get_or_create(
            phone=seed.phone,
            defaults={
                "name": seed.name,
                "store": store,
                "advisor": staff[seed.advisor_username] if seed.advisor_username else None,
            },
        )
        for car in seed.vehicles:
            bought = today - timedelta(days=car.age_days)
            vehicle, _ = await Vehicle.get_or_create(
                plate=car.plate,
                defaults={
                    "customer": customer,
                    "store": store,
                    "vin": car.vin,
                    "model_name": car.model_name,
                    "purchase_date": bought,
                    "mileage_km": car.mileage_km,
                    "last_service_date": (
                        today - timedelta(days=car.serviced_days_ago)
                        if car.serviced_days_ago is not None
                        else None
                    ),
                    "last_service_mileage_km": car.serviced_at_km,
                    "warranty_end": bought + WARRANTY,
                },
            )
            vehicles[car.plate] = vehicle
    return vehicles


async def load_policies(vehicles: dict[str, Vehicle], today: date) -> None:
    """Policies are moved to end relative to today on every start, so one is always expiring soon."""
    for seed in POLICIES:
        ends_on = today + timedelta(days=seed.ends_in_days)
        await InsurancePolicy.update_or_create(
            policy_no=seed.policy_no,
            defaults={
                "vehicle": vehicles[seed.plate],
                "insurer": seed.insurer,
                "starts_on": ends_on - timedelta(days=364),
                "ends_on": ends_on,
            },
        )


@functools.cache
def _demo_password_hash() -> str:
    """Hashed once per process: argon2 is deliberately slow and every demo login shares the password."""
    return hash_password(DEMO_PASSWORD)
