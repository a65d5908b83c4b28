"""The columns an import understands, and the header spellings DMS exports use for each.

Headers are matched after folding full-width characters, dropping spaces, required-field stars
and units in brackets, so "手机号码", "*手机" and "里程（km）" all find their column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Column(StrEnum):
    NAME = "name"
    PHONE = "phone"
    PLATE = "plate"
    VIN = "vin"
    MODEL_NAME = "model_name"
    PURCHASE_DATE = "purchase_date"
    MILEAGE = "mileage_km"
    LAST_SERVICE_DATE = "last_service_date"
    LAST_SERVICE_MILEAGE = "last_service_mileage_km"
    WARRANTY_END = "warranty_end"
    POLICY_NO = "policy_no"
    INSURER = "insurer"
    STARTS_ON = "starts_on"
    ENDS_ON = "ends_on"
    STORE = "store"
    ADVISOR = "advisor"  # the advisor's name (or phone)
    ADVISOR_PHONE = "advisor_phone"


ALIASES: Mapping[Column, tuple[str, ...]] = {
    Column.NAME: ("姓名", "客户姓名", "客户名称", "客户", "车主", "车主姓名", "联系人", "name"),
    Column.PHONE: (
        "手机",
        "手机号",
        "手机号码",
        "联系电话",
        "电话",
        "移动电话",
        "车主电话",
        "车主手机",
        "phone",
    ),
    Column.PLATE: ("车牌", "车牌号", "车牌号码", "plate"),
    Column.VIN: ("车架号", "vin", "vin码", "车辆识别代号", "车辆识别号", "底盘号"),
    Column.MODEL_NAME: ("车型", "车型名称", "车系", "model"),
    Column.PURCHASE_DATE: ("购车日期", "购买日期", "销售日期", "开票日期"),
    Column.MILEAGE: ("里程", "行驶里程", "当前里程", "公里数", "进厂里程"),
    Column.LAST_SERVICE_DATE: ("上次保养日期", "最近保养日期", "上次保养", "末次保养日期"),
    Column.LAST_SERVICE_MILEAGE: ("上次保养里程", "最近保养里程"),
    Column.WARRANTY_END: ("质保到期日", "保修到期日", "质保截止日期", "保修截止日期"),
    Column.POLICY_NO: ("保单号", "保单号码", "保单编号", "policy_no"),
    Column.INSURER: ("保险公司", "承保公司", "insurer"),
    Column.STARTS_ON: ("保险起期", "起保日期", "保险生效日", "保险开始日期"),
    Column.ENDS_ON: ("保险到期日", "保险到期", "保险止期", "保险截止日期", "保险到期日期"),
    Column.STORE: ("门店", "所属门店", "门店编码", "门店代码", "门店名称", "经销店"),
    Column.ADVISOR: ("服务顾问", "顾问", "专属顾问", "服务顾问姓名"),
    Column.ADVISOR_PHONE: ("顾问手机", "服务顾问手机", "顾问电话"),
}

_BRACKETED = re.compile(r"\(.*?\)|\[.*?\]|【.*?】")


def normalise_header(header: str) -> str:
    folded = _BRACKETED.sub("", unicodedata.normalize("NFKC", header))
    return re.sub(r"[\s*:：]", "", folded).lower()


_BY_SPELLING = {normalise_header(alias): column for column, aliases in ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class Layout:
    """Which position in a row holds each wanted column, and the file's own header for it."""

    positions: Mapping[Column, int]
    headers: Mapping[Column, str]
    ignored: list[str]


def map_headers(headers: Sequence[str], wanted: Collection[Column]) -> Layout:
    """The first header spelling each wanted column; others (and repeats) are ignored."""
    positions: dict[Column, int] = {}
    labels: dict[Column, str] = {}
    ignored: list[str] = []
    for position, header in enumerate(headers):
        column = _BY_SPELLING.get(normalise_header(header))
        if column is not None and column in wanted and column not in positions:
            positions[column], labels[column] = position, header
        elif header:
            ignored.append(header)
    return Layout(positions, labels, ignored)
