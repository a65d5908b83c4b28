"""The DMS's records through the API: upserts by natural key, validation, paging, exports."""

from __future__ import annotations

import csv
import io

from bot.models import Customer, InsurancePolicy, Role, Vehicle
from tests import factories
from tests.test_admin_support import make_team
from tests.test_api_support import Api, api_fixture  # noqa: F401

VIN = "LSVAU2180N2183294"


async def test_customer_upsert_by_phone_is_idempotent(api: Api) -> None:
    shop = await factories.store()
    body = {"phone": "13812345678", "name": "张先生", "store_id": shop.id}

    created = await api.call("POST", "/customers", json=body)
    again = await api.call("POST", "/customers", json=body)
    renamed = await api.call("POST", "/customers", json={"phone": "13812345678", "name": "张伟"})

    assert created.status == 201 and again.status == 200 and renamed.status == 200
    assert created.body["id"] == again.body["id"] == renamed.body["id"]
    assert again.body["updated_at"] == created.body["updated_at"]  # nothing was written
    assert renamed.body["name"] == "张伟" and renamed.body["store_id"] == shop.id  # left-out fields kept
    assert await Customer.all().count() == 1


async def test_invalid_input_is_422_naming_every_field_and_changes_nothing(api: Api) -> None:
    answer = await api.call(
        "POST", "/customers", json={"phone": "12345", "name": 7, "nickname": "x", "store_id": "1"}
    )

    assert answer.status == 422
    assert answer.body["code"] == "validation_error" and answer.body["message"]
    assert set(answer.body["fields"]) == {"phone", "name", "nickname", "store_id"}
    assert await Customer.all().count() == 0


async def test_malformed_json_and_bad_query_and_path_are_422(api: Api) -> None:
    not_json = await api.bot.client.post(
        "/api/v1/customers", data=b"{not json", headers={"X-API-Key": "dms-test-key-0123456789abcdef"}
    )
    bad_query = await api.call("GET", "/customers", params={"limit": "0", "offset": "1.5", "color": "red"})
    bad_path = await api.call("GET", "/customers/abc")

    assert not_json.status == 422 and "body" in (await not_json.json())["fields"]
    assert bad_query.status == 422 and set(bad_query.body["fields"]) == {"limit", "offset", "color"}
    assert bad_path.status == 422 and "id" in bad_path.body["fields"]


async def test_unknown_ids_are_404_and_unknown_references_422(api: Api) -> None:
    missing = await api.call("GET", "/customers/999")
    no_route = await api.call("GET", "/nothing-here")
    wrong_method = await api.call("PUT", "/customers")
    unknown_store = await api.call("POST", "/customers", json={"phone": "13812345678", "store_id": 999})

    assert missing.status == no_route.status == 404
    assert missing.body["code"] == "not_found" and no_route.body["code"] == "not_found"
    assert wrong_method.status == 405 and "POST" in wrong_method.headers["Allow"]
    assert unknown_store.status == 422 and unknown_store.body["fields"] == {"store_id": "no such store"}


async def test_vehicle_upsert_creates_the_owner_follows_the_vin_and_refuses_conflicts(api: Api) -> None:
    car = {"plate": "粤B12345", "owner_phone": "13812345678", "owner_name": "张先生", "vin": VIN}

    created = await api.call("POST", "/vehicles", json={**car, "mileage_km": 12000})
    replated = await api.call("POST", "/vehicles", json={**car, "plate": "粤BD12345"})
    await api.call("POST", "/vehicles", json={"plate": "粤A00001", "owner_phone": "13700000000"})
    taken = await api.call("POST", "/vehicles", json={**car, "plate": "粤A00001"})

    assert created.status == 201 and replated.status == 200
    assert replated.body["id"] == created.body["id"] and replated.body["plate"] == "粤BD12345"
    assert replated.body["mileage_km"] == 12000
    assert taken.status == 409 and taken.body["fields"] == {"vin": "this VIN is on record for another plate"}
    owner = await Customer.get(phone="13812345678")
    assert owner.name == "张先生" and created.body["customer_id"] == owner.id
    assert await Vehicle.all().count() == 2


async def test_policy_upsert_needs_the_vehicle_and_lists_by_expiry(api: Api) -> None:
    shop = await factories.store()
    await factories.customer_with_car(shop)
    for number, ends in (("P-3", "2027-03-01"), ("P-1", "2027-01-01"), ("P-2", "2027-02-01")):
        answer = await api.call(
            "POST", "/policies", json={"policy_no": number, "plate": "粤B12345", "ends_on": ends}
        )
        assert answer.status == 201 and answer.body["plate"] == "粤B12345"
    unknown = await api.call(
        "POST", "/policies", json={"policy_no": "P-9", "plate": "粤A99999", "ends_on": "2027-01-01"}
    )
    reversed_dates = await api.call(
        "POST",
        "/policies",
        json={"policy_no": "P-1", "plate": "粤B12345", "ends_on": "2026-01-01", "starts_on": "2026-06-01"},
    )
    soon = await api.call("GET", "/policies", params={"expiring_before": "2027-02-15"})

    assert unknown.status == 422 and set(unknown.body["fields"]) == {"plate"}
    assert reversed_dates.status == 422 and set(reversed_dates.body["fields"]) == {"ends_on"}
    assert [p["policy_no"] for p in soon.body["items"]] == ["P-1", "P-2"] and soon.body["total"] == 2
    assert await InsurancePolicy.all().count() == 3


async def test_lists_page_with_limit_offset_and_total(api: Api) -> None:
    shop = await factories.store()
    for index in range(7):
        await Customer.create(phone=f"1380000000{index}", name=f"客户{index}", store=shop)

    first = await api.call("GET", "/customers", params={"limit": "3"})
    last = await api.call("GET", "/customers", params={"limit": "3", "offset": "6"})
    by_phone = await api.call("GET", "/customers", params={"phone": "13800000004"})

    assert [c["name"] for c in first.body["items"]] == ["客户0", "客户1", "客户2"]
    assert first.body["total"] == last.body["total"] == 7
    assert [c["name"] for c in last.body["items"]] == ["客户6"] and last.body["offset"] == 6
    assert [c["name"] for c in by_phone.body["items"]] == ["客户4"]


async def test_staff_and_stores_are_managed_by_admin_and_api_key(api: Api) -> None:
    store = await api.call("POST", "/stores", json={"code": "SZ02", "name": "深圳南山4S店", "latitude": 22.5})
    duplicate = await api.call("POST", "/stores", json={"code": "SZ02", "name": "又一家"})
    advisor = await api.call(
        "POST",
        "/staff",
        json={"name": "王顾问", "phone": "13900000009", "role": "advisor", "store_id": store.body["id"]},
    )
    storeless = await api.call(
        "POST", "/staff", json={"name": "赵", "phone": "13900000008", "role": "advisor"}
    )
    off_duty = await api.call("PATCH", f"/staff/{advisor.body['id']}", json={"on_duty": False})

    assert (
        store.status == 201
        and duplicate.status == 409
        and duplicate.body["fields"] == {"code": "already taken"}
    )
    assert advisor.status == 201 and advisor.body["wechat_bound"] is False
    assert storeless.status == 422 and set(storeless.body["fields"]) == {"store_id"}
    assert off_duty.status == 200 and off_duty.body["on_duty"] is False and off_duty.body["role"] == "advisor"


async def test_exports_are_excel_ready_csv_scoped_to_the_caller(api: Api) -> None:
    team = await make_team()
    team.my_customer.name = "=HYPERLINK(1)"  # a formula must reach Excel as text
    await team.my_customer.save(update_fields=["name"])
    manager = await api.token_for(team.staff[Role.SERVICE_MANAGER])

    customers = await api.call("GET", "/exports/customers.csv", token=manager)
    vehicles = await api.call("GET", "/exports/vehicles.csv")

    assert customers.status == 200 and customers.headers["Content-Type"].startswith("text/csv")
    assert customers.body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(customers.body.decode("utf-8-sig"))))
    assert rows[0] == ["姓名", "手机", "门店", "服务顾问", "顾问手机"]
    assert sorted(row[1] for row in rows[1:]) == ["13800000002", "13812345678"]  # store A only
    assert ["'=HYPERLINK(1)", "13812345678", "SZ01", team.advisor.name, team.advisor.phone] in rows
    vehicle_rows = list(csv.reader(io.StringIO(vehicles.body.decode("utf-8-sig"))))
    assert len(vehicle_rows) == 4 and vehicle_rows[0][:2] == ["车牌", "车架号"]
