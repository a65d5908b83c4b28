"""Parsing of customer answers: every case a customer might type, with the expected reading."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.conversation.validators import (
    PROVINCES,
    PartOfDay,
    When,
    find_plate,
    mask_mobile,
    mask_plate,
    parse_choice,
    parse_mobile,
    parse_plate,
    parse_when,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday morning; every date case is read against it.
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


# --- Plates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("粤B12345", "粤B12345"),
        ("粤b 12345", "粤B12345"),
        ("粤B·12345", "粤B12345"),
        ("粤B-12345", "粤B12345"),
        ("粤 B . 123 45", "粤B12345"),
        ("  粤B12345。", "粤B12345"),
        ("粤Ｂ１２３４５", "粤B12345"),
        ("粤ｂ１２３４５", "粤B12345"),
        ("粤B　12345", "粤B12345"),  # ideographic space
        ("京AA1234", "京AA1234"),
        ("沪A1B2C3", "沪A1B2C3"),
        ("琼Z12345", "琼Z12345"),
        # small new-energy: D/F (and A-K since 2022), one letter or digit, four digits
        ("京A·D12345", "京AD12345"),
        ("京ad12345", "京AD12345"),
        ("粤BF1234A", None),  # the last four must be digits
        ("粤BFA1234", "粤BFA1234"),
        ("浙AA12345", "浙AA12345"),
        ("浙AK12345", "浙AK12345"),
        ("苏EDＦ1234", "苏EDF1234"),
        # large new-energy: five digits then D/F
        ("粤B12345D", "粤B12345D"),
        ("粤B12345F", "粤B12345F"),
        ("粤B12345A", None),
        ("粤B1234DF", None),
        # special plates
        ("粤B1234学", "粤B1234学"),
        ("京A1234警", "京A1234警"),
        ("鲁B1234挂", "鲁B1234挂"),
        ("粤Z1234港", "粤Z1234港"),
        ("粤Z1234澳", "粤Z1234澳"),
        ("京A1234港", None),  # 港/澳 plates are issued under 粤Z only
        ("粤B12345学", None),
    ],
)
def test_parse_plate(text: str, expected: str | None) -> None:
    assert parse_plate(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "粤B1234",  # too short
        "粤B123456",  # seven after the city, yet not a new-energy pattern
        "粤B1234567",
        "粤BI2345",  # I reads as 1
        "粤BO2345",  # O reads as 0
        "粤I12345",
        "粤O12345",
        "粤B1O345",
        "京AI12345",  # new-energy with I
        "京AL12345",  # L is not a new-energy letter
        "港A12345",  # not a mainland province
        "台A12345",
        "AB12345",
        "粤112345",  # city code must be a letter
        "粤B12345谢谢",  # parse_plate wants the plate alone; find_plate reads sentences
        "粤B 12345 13812345678",
    ],
)
def test_parse_plate_refuses(text: str) -> None:
    assert parse_plate(text) is None


@pytest.mark.parametrize("province", PROVINCES)
def test_every_province_is_accepted(province: str) -> None:
    assert parse_plate(f"{province}A12345") == f"{province}A12345"


def test_there_are_31_provinces() -> None:
    assert len(set(PROVINCES)) == len(PROVINCES) == 31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的车牌是粤B12345谢谢", "粤B12345"),
        ("我的车牌是粤b 12345谢谢", "粤B12345"),
        ("车牌：粤B·12345，电话13812345678", "粤B12345"),
        ("新能源的，京A·D12345", "京AD12345"),
        ("大车是粤B12345D。", "粤B12345D"),
        ("车牌号粤Ｂ１２３４５", "粤B12345"),
        ("粤B12345", "粤B12345"),
        ("粤B12345 也就是粤B12345", "粤B12345"),  # the same plate twice is still one plate
        ("我有两台车粤B12345和粤B67890", None),  # which one? re-ask
        ("粤B123456", None),  # a plate does not stop in the middle of a run of characters
        ("我的手机是13812345678", None),
        ("没有车牌", None),
        ("", None),
    ],
)
def test_find_plate(text: str, expected: str | None) -> None:
    assert find_plate(text) == expected


# --- Mobile numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("１３８－１２３４－５６７８", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("(+86) 13812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("＋８６１３８１２３４５６７８", "13812345678"),
        ("13812345678。", "13812345678"),
        ("19912345678", "19912345678"),
        ("16612345678", "16612345678"),
    ],
)
def test_parse_mobile(text: str, expected: str) -> None:
    assert parse_mobile(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1381234567",  # ten digits
        "138123456789",  # twelve
        "12812345678",  # 12x is not a mobile range
        "10012345678",
        "23812345678",
        "02012345678",  # a landline
        "+87 13812345678",
        "13812345678a",
        "手机13812345678",  # answers carrying words are not read as a bare number
        "138 1234 567８9",
    ],
)
def test_parse_mobile_refuses(text: str) -> None:
    assert parse_mobile(text) is None


# --- Masking for logs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mobile", "expected"),
    [("13812345678", "138****5678"), ("1381234", "*******"), ("", "")],
)
def test_mask_mobile(mobile: str, expected: str) -> None:
    assert mask_mobile(mobile) == expected


@pytest.mark.parametrize(
    ("plate", "expected"),
    [("粤B12345", "粤B***45"), ("京AD12345", "京A****45"), ("粤B1234学", "粤B***4学"), ("粤B1", "***")],
)
def test_mask_plate(plate: str, expected: str) -> None:
    assert mask_plate(plate) == expected


# --- Days and times ---------------------------------------------------------------------------


def _when(
    month: int, day: int, clock: str | None = None, part_of_day: PartOfDay | None = None, year: int = 2026
) -> When:
    time = dt.time.fromisoformat(clock) if clock else None
    return When(dt.date(year, month, day), time, part_of_day)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # relative days
        ("今天", _when(11, 23)),
        ("今日", _when(11, 23)),
        ("明天", _when(11, 24)),
        ("明日", _when(11, 24)),
        ("后天", _when(11, 25)),
        ("大后天", _when(11, 26)),
        ("明天吧", _when(11, 24)),
        ("明天可以吗？", _when(11, 24)),
        # weekdays: 周X is the next one after today, so on a Monday 周一 is a week away
        ("周六", _when(11, 28)),
        ("星期六", _when(11, 28)),
        ("礼拜六", _when(11, 28)),
        ("周6", _when(11, 28)),
        ("周二", _when(11, 24)),
        ("周日", _when(11, 29)),
        ("星期天", _when(11, 29)),
        ("礼拜天", _when(11, 29)),
        ("周一", _when(11, 30)),
        # 下周X: that weekday of next Monday-based week
        ("下周一", _when(11, 30)),
        ("下周六", _when(12, 5)),
        ("下个星期三", _when(12, 2)),
        ("下下周三", _when(12, 9)),
        # 本周X/这周X: that weekday of this week, today included
        ("本周六", _when(11, 28)),
        ("这周日", _when(11, 29)),
        ("这个礼拜五", _when(11, 27)),
        ("本周一", _when(11, 23)),
        # month and day without a year: the next such day
        ("11月25日", _when(11, 25)),
        ("11月25号", _when(11, 25)),
        ("11月25", _when(11, 25)),
        ("11 月 25 日", _when(11, 25)),
        ("１１月２５日", _when(11, 25)),
        ("十一月二十五号", _when(11, 25)),
        ("11-25", _when(11, 25)),
        ("11/25", _when(11, 25)),
        ("11月23日", _when(11, 23)),
        ("12月31日", _when(12, 31)),
        ("1月5日", _when(1, 5, year=2027)),
        ("1-5", _when(1, 5, year=2027)),
        ("11月20日", _when(11, 20, year=2027)),
        # full dates
        ("2026-11-25", _when(11, 25)),
        ("2026/11/25", _when(11, 25)),
        ("2026.11.25", _when(11, 25)),
        ("2026年11月25日", _when(11, 25)),
        ("2027年1月5号", _when(1, 5, year=2027)),
        ("2026-11-23", _when(11, 23)),
        # day of month: this month, or next month once past
        ("25号", _when(11, 25)),
        ("25日", _when(11, 25)),
        ("二十五号", _when(11, 25)),
        ("23号", _when(11, 23)),
        ("5号", _when(12, 5)),
        ("30号", _when(11, 30)),
        # times alone are today
        ("10:00", _when(11, 23, "10:00", "morning")),
        ("10：30", _when(11, 23, "10:30", "morning")),
        ("10点", _when(11, 23, "10:00", "morning")),
        ("10点半", _when(11, 23, "10:30", "morning")),
        ("10点30", _when(11, 23, "10:30", "morning")),
        ("10点30分", _when(11, 23, "10:30", "morning")),
        ("10点钟", _when(11, 23, "10:00", "morning")),
        ("10时", _when(11, 23, "10:00", "morning")),
        ("十点", _when(11, 23, "10:00", "morning")),
        ("十点十五", _when(11, 23, "10:15", "morning")),
        ("十一点零五分", _when(11, 23, "11:05", "morning")),
        ("十二点", _when(11, 23, "12:00", "afternoon")),
        ("二十点", _when(11, 23, "20:00", "evening")),
        ("二十三点", _when(11, 23, "23:00", "evening")),
        ("14:30", _when(11, 23, "14:30", "afternoon")),
        ("09:00", _when(11, 23, "09:00", "morning")),
        # an hour of 1-6 with no period named is in the afternoon: the store is shut at night
        ("三点半", _when(11, 23, "15:30", "afternoon")),
        ("两点", _when(11, 23, "14:00", "afternoon")),
        ("3点", _when(11, 23, "15:00", "afternoon")),
        ("6点", _when(11, 23, "18:00", "evening")),
        ("7点", None),  # 07:00 is already past at 09:00
        # periods of the day
        ("上午", _when(11, 23, None, "morning")),
        ("下午", _when(11, 23, None, "afternoon")),
        ("晚上", _when(11, 23, None, "evening")),
        ("中午", _when(11, 23, None, "afternoon")),
        ("下午3点", _when(11, 23, "15:00", "afternoon")),
        ("下午三点半", _when(11, 23, "15:30", "afternoon")),
        ("下午15点", _when(11, 23, "15:00", "afternoon")),
        ("下午3:30", _when(11, 23, "15:30", "afternoon")),
        ("上午10点", _when(11, 23, "10:00", "morning")),
        ("早上9点半", _when(11, 23, "09:30", "morning")),
        ("上午12点", _when(11, 23, "12:00", "afternoon")),
        ("中午12点", _when(11, 23, "12:00", "afternoon")),
        ("中午1点", _when(11, 23, "13:00", "afternoon")),
        ("中午11点半", _when(11, 23, "11:30", "morning")),
        ("晚上8点", _when(11, 23, "20:00", "evening")),
        ("傍晚6点", _when(11, 23, "18:00", "evening")),
        # combinations
        ("明天上午", _when(11, 24, None, "morning")),
        ("明天下午", _when(11, 24, None, "afternoon")),
        ("周六下午3点", _when(11, 28, "15:00", "afternoon")),
        ("星期六 下午 3 点", _when(11, 28, "15:00", "afternoon")),
        ("11月25日10:00", _when(11, 25, "10:00", "morning")),
        ("11月25日 上午10点", _when(11, 25, "10:00", "morning")),
        ("后天 14:30", _when(11, 25, "14:30", "afternoon")),
        ("下周一上午9点半", _when(11, 30, "09:30", "morning")),
        ("11-25 10:30", _when(11, 25, "10:30", "morning")),
        ("2026-11-25 14:00", _when(11, 25, "14:00", "afternoon")),
        ("25号下午两点", _when(11, 25, "14:00", "afternoon")),
        ("明天早上8点", _when(11, 24, "08:00", "morning")),
        ("明天8点", _when(11, 24, "08:00", "morning")),
        ("1月5日上午", _when(1, 5, None, "morning", year=2027)),
        ("大后天晚上七点", _when(11, 26, "19:00", "evening")),
        # chat shorthand
        ("今晚8点", _when(11, 23, "20:00", "evening")),
        ("明早9点", _when(11, 24, "09:00", "morning")),
        ("明晚", _when(11, 24, None, "evening")),
        ("明早", _when(11, 24, None, "morning")),
        # 早一点 means "a bit earlier", not one o'clock
        ("明天早一点", _when(11, 24)),
        ("今天9点", _when(11, 23, "09:00", "morning")),
    ],
)
def test_parse_when(text: str, expected: When | None) -> None:
    assert parse_when(text, NOW, SHANGHAI) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "好的",
        "随便",
        "25",  # a bare number is neither a day nor a time
        # the past
        "2026-11-20",
        "2026年11月22日",
        "2025-12-01",
        "今天8点",
        "今天上午8:59",
        "8点",
        # dates that do not exist
        "2月30日",
        "13月1日",
        "0月5日",
        "11月32日",
        "31号",  # November has no 31st; do not guess December
        "2026-02-29",
        "2027-02-29",
        # times that do not exist or contradict their period
        "24点",
        "二十四点",
        "25:00",
        "10:60",
        "10点60分",
        "上午15点",
        "中午5点",
        "晚上3点",
        "三十五点",
        # two answers at once: re-ask instead of guessing
        "明天还是后天",
        "今天明天都行",
        "上午或者下午",
        "10点或11点",
        "周六下午3点或者4点",
    ],
)
def test_parse_when_refuses(text: str) -> None:
    assert parse_when(text, NOW, SHANGHAI) is None


def test_today_is_the_date_in_the_given_time_zone() -> None:
    """23:30 UTC on Sunday is already Monday 07:30 in Shanghai."""
    sunday_night_utc = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    assert parse_when("今天", sunday_night_utc, SHANGHAI) == _when(11, 23)
    assert parse_when("11月22日", sunday_night_utc, SHANGHAI) == _when(11, 22, year=2027)


def test_day_of_month_rolls_over_into_january() -> None:
    """The one case that needs a December clock: "5号" after the 5th is in next year's January."""
    december = dt.datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI)
    assert parse_when("5号", december, SHANGHAI) == _when(1, 5, year=2027)


def test_when_is_frozen() -> None:
    when = _when(11, 24)
    with pytest.raises(AttributeError):
        when.day = dt.date(2026, 11, 25)  # type: ignore[misc]


# --- Numbered choices -------------------------------------------------------------------------

SERVICES = ["首保", "定期保养", "一般维修", "钣金喷漆", "保修"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 0),
        ("１", 0),
        (" 2 ", 1),
        ("2.", 1),
        ("3、", 2),
        ("5", 4),
        ("一", 0),
        ("两", 1),
        ("第一个", 0),
        ("第1个", 0),
        ("第二项", 1),
        ("第五", 4),
        ("选3", 2),
        ("选择第四个", 3),
        # by text: exact, then part of one option, then one option inside the answer
        ("首保", 0),
        ("定期保养", 1),
        ("定期", 1),
        ("钣金", 3),
        ("喷漆", 3),
        ("我要首保", 0),
        ("做个定期保养吧", 1),
        # a number out of range is read as text
        ("6", None),
        ("0", None),
        # ambiguous or unknown
        ("保", None),  # in 首保, 定期保养 and 保修
        ("维修保养", None),  # contains nothing whole; part of nothing
        ("洗车", None),
        ("", None),
        ("？", None),
    ],
)
def test_parse_choice(text: str, expected: int | None) -> None:
    assert parse_choice(text, SERVICES) == expected


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("ABC", ["abc店", "xyz店"], 0),  # case-insensitive
        ("ａｂｃ店", ["ABC店", "XYZ店"], 0),  # full-width
        ("10", ["9:00", "10:00"], 1),  # out-of-range number falls back to the slot's text
        ("1", ["10:00", "11:00"], 0),  # in range, the number wins over the text
        ("保养", ["保养", "定期保养"], 0),  # an exact match beats a longer option containing it
        ("定期保养吧", ["保养", "定期保养"], None),  # contains both: ask again
        ("1", [], None),
        ("保养", ["", "保养"], 1),  # an empty option never matches
    ],
)
def test_parse_choice_options(text: str, options: list[str], expected: int | None) -> None:
    assert parse_choice(text, options) == expected
