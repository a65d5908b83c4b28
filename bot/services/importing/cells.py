"""Reading one cell of a DMS export: phone numbers stored as numbers, dates as Excel serials or
Chinese text, mileage with thousands separators. Each reader returns the value or raises
CellError with the reason shown to the staff member in the error report.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

from openpyxl.utils.datetime import from_excel

from bot.conversation.validators import parse_mobile, parse_plate

MAX_MILEAGE_KM = 2_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")  # ISO 3779: no I, O or Q
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_EXCEL_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_MILEAGE = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?\s*(?:km|公里)?", re.IGNORECASE)


class CellError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _as_text(cell: object) -> str:
    """Numbers typed into a text column come back as int or float (13812345678.0)."""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return unicodedata.normalize("NFKC", str(cell)).strip()


def text(max_length: int) -> Callable[[object], str]:
    def read(cell: object) -> str:
        value = _as_text(cell)
        if _CONTROL.search(value):
            raise CellError("含有不可见的控制字符")
        if len(value) > max_length:
            raise CellError(f"超过 {max_length} 个字符")
        return value

    return read


def mobile(cell: object) -> str:
    value = parse_mobile(_as_text(cell))
    if value is None:
        raise CellError("不是有效的 11 位手机号")
    return value


def plate(cell: object) -> str:
    value = parse_plate(_as_text(cell))
    if value is None:
        raise CellError("不是有效的车牌号")
    return value


def vin(cell: object) -> str:
    value = re.sub(r"[\s-]", "", _as_text(cell)).upper()
    if not _VIN.fullmatch(value):
        raise CellError("车架号应为 17 位字母或数字（不含 I、O、Q）")
    return value


def day(cell: object) -> dt.date:
    """A date cell, a datetime, an Excel serial number, or 2024-05-01 / 2024/5/1 / 2024年5月1日 / 20240501."""
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    value = _as_text(cell)
    try:
        if match := _DATE.fullmatch(value) or _COMPACT_DATE.fullmatch(value):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if _EXCEL_SERIAL.fullmatch(value):
            serial = from_excel(float(value))
            if isinstance(serial, dt.datetime):
                return serial.date()
    except (ValueError, OverflowError):
        pass
    raise CellError("无法识别的日期，请写成 2024-05-01")


def kilometres(cell: object) -> int:
    """12345, "12,345", "12345km", "1.2万" (12,000 km)."""
    match = _MILEAGE.fullmatch(_as_text(cell).replace(",", "").replace("，", ""))
    if match is None:
        raise CellError("里程应为公里数，如 12345")
    value = round(float(match[1]) * (10_000 if match[2] else 1))
    if value > MAX_MILEAGE_KM:
        raise CellError(f"里程超过 {MAX_MILEAGE_KM} 公里")
    return value
