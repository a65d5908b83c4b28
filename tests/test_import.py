"""Importing DMS files: Chinese headers, encodings, row-level errors, dry runs, re-imports, CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from pathlib import Path

import pytest

from bot.models import Customer, InsurancePolicy, Store, Vehicle
from bot.services.importing import ImportFileError, RowError, import_file
from tests import factories
from tests.backends import Backend
from tests.data.dms_files import VEHICLE_HEADERS, csv_bytes, vehicle_row, write_xlsx

CUSTOMER_HEADERS = ["客户姓名", "手机号码", "所属门店", "服务顾问"]


async def test_xlsx_vehicles_import_good_rows_and_report_bad_ones(db: Backend, tmp_path: Path) -> None:
    shop = await factories.store()
    rows = [vehicle_row(index) for index in range(1, 7)]
    rows[1][1] = "1234"  # row 3: not a mobile number
    rows[2][2] = "粤B1234"  # row 4: not a plate
    rows[3][8] = "HZ99"  # row 5: no such store
    rows[4][2] = None  # row 6: no plate
    path = write_xlsx(tmp_path / "车辆.xlsx", [*VEHICLE_HEADERS, "备注"], rows)

    report = await import_file("vehicles", path)

    assert (report.rows, report.created, report.updated, report.unchanged) == (6, 2, 0, 0)
    assert report.errors == [
        RowError(3, "手机", "不是有效的 11 位手机号"),
        RowError(4, "车牌", "不是有效的车牌号"),
        RowError(5, "门店", "未知门店：请填写系统中的门店编码或名称"),
        RowError(6, "车牌", "不能为空"),
    ]
    assert report.ignored_columns == ["备注"]
    car = await Vehicle.get(plate="粤B00001").prefetch_related("customer")
    assert car.vin == "LSVAU2180N0000001" and car.purchase_date == dt.date(2020, 1, 2)
    assert car.mileage_km == 1003 and car.store_id == shop.id  # type: ignore[attr-defined]
    assert (car.customer.phone, car.customer.name) == ("13800000001", "客户1")


async def test_second_import_changes_nothing_and_a_changed_row_updates(db: Backend, tmp_path: Path) -> None:
    await factories.store()
    rows = [vehicle_row(index) for index in range(1, 4)]
    path = write_xlsx(tmp_path / "a.xlsx", VEHICLE_HEADERS, rows)
    await import_file("vehicles", path)
    stamps = await Vehicle.all().order_by("id").values_list("updated_at", flat=True)

    again = await import_file("vehicles", path)
    rows[0][6] = 99999
    changed = await import_file("vehicles", write_xlsx(tmp_path / "b.xlsx", VEHICLE_HEADERS, rows))

    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 3, 0)
    assert (changed.updated, changed.unchanged) == (1, 2)
    assert await Vehicle.all().order_by("id").values_list("updated_at", flat=True) != stamps
    assert (await Vehicle.get(plate="粤B00001")).mileage_km == 99999


async def test_dry_run_counts_everything_and_writes_nothing(db: Backend, tmp_path: Path) -> None:
    await factories.store()
    path = write_xlsx(tmp_path / "a.xlsx", VEHICLE_HEADERS, [vehicle_row(i) for i in range(1, 4)])

    report = await import_file("vehicles", path, dry_run=True)

    assert report.dry_run and (report.created, report.failed) == (3, 0)
    assert await Vehicle.all().count() == 0 and await Customer.all().count() == 0


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
async def test_csv_in_utf8_with_or_without_bom_and_gbk(db: Backend, encoding: str) -> None:
    shop = await factories.store()
    advisor = await factories.staff(shop, name="李顾问")
    rows = [
        ["张先生", "138-1234-5678", "深圳福田4S店", "李顾问"],
        ["王女士", "+86 139 0000 0002", "SZ01", ""],
    ]

    report = await import_file("customers", csv_bytes(CUSTOMER_HEADERS, rows, encoding), "客户.csv")

    assert (report.created, report.failed) == (2, 0)
    zhang = await Customer.get(phone="13812345678")
    assert (zhang.name, zhang.store_id, zhang.advisor_id) == ("张先生", shop.id, advisor.id)  # type: ignore[attr-defined]
    assert (await Customer.get(phone="13900000002")).name == "王女士"


async def test_repeated_keys_in_a_file_are_reported_not_applied_twice(db: Backend) -> None:
    rows = [["张先生", "13812345678"], ["李四", "13812345678"], ["", "13812345679"]]

    report = await import_file("customers", csv_bytes(["姓名", "手机"], rows, "utf-8"), "c.csv")
    again = await import_file("customers", csv_bytes(["姓名", "手机"], rows, "utf-8"), "c.csv")

    assert report.errors == [RowError(3, "手机", "与第 2 行重复，本行未导入")]
    assert (await Customer.get(phone="13812345678")).name == "张先生"
    assert (again.unchanged, again.failed) == (2, 1)


async def test_policies_need_their_vehicle_and_read_chinese_dates(db: Backend) -> None:
    shop = await factories.store()
    await factories.customer_with_car(shop)
    headers = ["保单号", "车牌", "保险公司", "保险起期", "保险到期日"]
    rows = [
        ["PDAA001", "粤B12345", "人保", "2026/1/2", "2027年1月1日"],
        ["PDAA002", "粤A99999", "平安", "", "2027-01-01"],
        ["PDAA003", "粤B12345", "太保", "2027-06-01", "2027-01-01"],
        ["PDAA004", "粤B12345", "太保", "", "明年"],
    ]

    report = await import_file("policies", csv_bytes(headers, rows, "gbk"), "保单.csv")

    assert report.created == 1
    assert report.errors == [
        RowError(3, "车牌", "系统中没有这个车牌的车辆，请先导入车辆"),
        RowError(4, "保险到期日", "保险到期日早于起保日期"),
        RowError(5, "保险到期日", "无法识别的日期，请写成 2024-05-01"),
    ]
    policy = await InsurancePolicy.get(policy_no="PDAA001")
    assert (policy.starts_on, policy.ends_on, policy.insurer) == (
        dt.date(2026, 1, 2),
        dt.date(2027, 1, 1),
        "人保",
    )


async def two_stores() -> tuple[Store, Store]:
    """Store SZ01 with 张先生 (粤B12345) and store GZ01 with 孙先生 (粤A33333, a VIN, a policy),
    each with an advisor."""
    mine, other = await factories.store(), await factories.store("GZ01", "广州天河4S店")
    await factories.staff(mine, name="李顾问")
    await factories.staff(other, name="广州顾问", phone="13900000301")
    await factories.customer_with_car(mine)
    _, car = await factories.customer_with_car(other, phone="13800000003", plate="粤A33333", name="孙先生")
    await Vehicle.filter(id=car.id).update(vin="LSVAU2180N0000333")
    await InsurancePolicy.create(vehicle=car, policy_no="PDGZ001", ends_on=dt.date(2027, 1, 1))
    return mine, other


async def test_a_stores_import_writes_its_own_customers_and_reports_the_others(db: Backend) -> None:
    mine, other = await two_stores()
    rows = [
        ["新客户", "13800000010", "", ""],  # no store named: this store's
        ["张先生改名", "13812345678", "SZ01", "李顾问"],
        ["外店新客户", "13800000011", "GZ01", ""],
        ["孙先生改名", "13800000003", "", ""],  # stored under the other store
        ["另一位", "13800000012", "", "广州顾问"],  # the other store's advisor
    ]

    report = await import_file(
        "customers", csv_bytes(CUSTOMER_HEADERS, rows, "utf-8"), "客户.csv", store_id=mine.id
    )

    assert (report.created, report.updated) == (1, 1)
    assert report.errors == [
        RowError(4, "所属门店", "只能导入本门店的数据"),
        RowError(5, "手机号码", "该客户不属于本门店，本行未导入"),
        RowError(6, "服务顾问", "没有这个名字的在职服务顾问"),
    ]
    assert (await Customer.get(phone="13800000010")).store_id == mine.id  # type: ignore[attr-defined]
    assert (await Customer.get(phone="13812345678")).name == "张先生改名"
    sun = await Customer.get(phone="13800000003")
    assert (sun.name, sun.store_id) == ("孙先生", other.id)  # type: ignore[attr-defined]
    assert not await Customer.filter(phone__in=["13800000011", "13800000012"]).exists()


async def test_a_stores_import_leaves_the_other_stores_vehicles_and_policies_alone(db: Backend) -> None:
    mine, _ = await two_stores()
    vehicles = [
        ["赵先生", "13800000020", "粤B20000", "", "SZ01"],
        ["赵先生", "13800000020", "粤A33333", "", ""],  # the other store's plate
        ["钱先生", "13800000021", "粤B20001", "LSVAU2180N0000333", ""],  # the other store's VIN
    ]
    policies = [
        ["PDSZ001", "粤B12345", "2027-01-01"],
        ["PDSZ002", "粤A33333", "2027-01-01"],  # insures the other store's car
        ["PDGZ001", "粤B12345", "2027-01-01"],  # the other store's policy moved onto ours
    ]

    cars = await import_file(
        "vehicles",
        csv_bytes(["姓名", "手机", "车牌", "车架号", "门店"], vehicles, "utf-8"),
        "v.csv",
        store_id=mine.id,
    )
    insured = await import_file(
        "policies", csv_bytes(["保单号", "车牌", "保险到期日"], policies, "utf-8"), "p.csv", store_id=mine.id
    )

    assert cars.created == insured.created == 1
    assert cars.errors == [
        RowError(3, "车牌", "该车辆不属于本门店，本行未导入"),
        RowError(4, "车架号", "该车辆不属于本门店，本行未导入"),
    ]
    assert insured.errors == [
        RowError(3, "车牌", "该车辆不属于本门店，本行未导入"),
        RowError(4, "保单号", "该保单不属于本门店，本行未导入"),
    ]
    assert await Vehicle.filter(store_id=mine.id).count() == 2
    assert not await Customer.filter(phone="13800000021").exists()
    moved = await InsurancePolicy.get(policy_no="PDGZ001").prefetch_related("vehicle")
    assert moved.vehicle.plate == "粤A33333"


async def test_without_a_store_an_import_writes_any_stores_rows(db: Backend) -> None:
    _, other = await two_stores()
    rows = [["孙先生改名", "13800000003", "", "广州顾问"], ["外店新客户", "13800000011", "GZ01", ""]]

    report = await import_file("customers", csv_bytes(CUSTOMER_HEADERS, rows, "utf-8"), "客户.csv")

    assert (report.created, report.updated, report.failed) == (1, 1, 0)
    assert (await Customer.get(phone="13800000011")).store_id == other.id  # type: ignore[attr-defined]


async def test_a_file_that_cannot_be_imported_says_why_and_writes_nothing(
    db: Backend, tmp_path: Path
) -> None:
    no_phone = csv_bytes(["姓名", "车牌"], [["张", "粤B12345"]], "utf-8")

    with pytest.raises(ImportFileError, match="手机"):
        await import_file("vehicles", no_phone, "v.csv")
    with pytest.raises(ImportFileError, match=r"\.xls"):
        await import_file("vehicles", b"\xd0\xcf\x11\xe0", "old.xls")
    with pytest.raises(ImportFileError, match="Excel"):
        await import_file("vehicles", b"not a zip", "broken.xlsx")
    assert await Customer.all().count() == 0


async def test_cli_imports_with_an_error_report(db: Backend, tmp_path: Path) -> None:
    await factories.store()
    rows = [vehicle_row(1), vehicle_row(2)]
    rows[1][1] = "12"
    path = write_xlsx(tmp_path / "车辆.xlsx", VEHICLE_HEADERS, rows)
    errors_csv = tmp_path / "errors.csv"

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "import",
        "vehicles",
        str(path),
        "--errors-csv",
        str(errors_csv),
        env={**os.environ, "BOT_DATABASE_URL": db.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        output, log = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()

    assert process.returncode == 1, log.decode()  # 1: some rows were refused
    assert "2 rows" in output.decode() and "1 created" in output.decode()
    assert errors_csv.read_bytes().decode("utf-8-sig").splitlines() == [
        "行号,列,原因",
        "3,手机,不是有效的 11 位手机号",
    ]
    assert await Vehicle.filter(plate="粤B00001").exists()
