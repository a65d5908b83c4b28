"""Reading what customers type in chat: plates, mobile numbers, days and times, numbered choices.

Customers type on phone keyboards and through voice input, so answers arrive with full-width
digits and letters, stray spaces and punctuation, lower case and Chinese numerals. Each parser
is a pure function that returns ``None`` when it cannot read the answer with confidence (or the
answer is ambiguous or in the past); the caller then re-asks with a template. Nothing here holds
customer-facing wording.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "PROVINCES",
    "PartOfDay",
    "When",
    "find_plate",
    "mask_mobile",
    "mask_plate",
    "parse_choice",
    "parse_mobile",
    "parse_plate",
    "parse_when",
]

# Trimmed from both ends of an answer: "粤B12345。", "1、", "（1）" are still answers.
_EDGE_PUNCTUATION = " \t\r\n,.;:!?'\"()[]~。，、；：！？“”‘’【】《》…"


def _normalise(text: str) -> str:
    """Fold full-width characters to ASCII (NFKC) and trim edge punctuation, as every parser needs."""
    return unicodedata.normalize("NFKC", text).strip(_EDGE_PUNCTUATION)


# --- Plates -----------------------------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CITY = "[A-HJ-NP-Z]"  # plates never use I or O: they read as 1 and 0
_SERIAL = "[A-HJ-NP-Z0-9]"
_PLATE_BODIES = (
    rf"[A-HJK]{_SERIAL}[0-9]{{4}}",  # small new-energy: D/F, since 2022 any of A-K without I
    r"[0-9]{5}[DF]",  # large new-energy: five digits, then D (electric) or F (hybrid)
    rf"{_SERIAL}{{4}}[学警挂]",  # driving-school, police and trailer plates
    rf"{_SERIAL}{{5}}",  # ordinary
)
# Written as "粤 B·12345" or "粤B-12345"; the separators are dropped from the result.
_PLATE_SEPARATOR = r"[\s.·•・\-–—]"
_PLATE_SEPARATORS = re.compile(f"{_PLATE_SEPARATOR}+")


def _plate_pattern(separator: str) -> re.Pattern[str]:
    """One plate grammar, with or without room for separators after the province and city."""
    bodies = "|".join(_PLATE_BODIES)
    return re.compile(
        rf"(?:[{PROVINCES}]{separator}{_CITY}{separator}(?:{bodies})"
        rf"|粤{separator}Z{separator}{_SERIAL}{{4}}[港澳])"  # Hong Kong and Macau cars crossing over
        r"(?![A-Z0-9])"
    )


_PLATE = _plate_pattern("")
_PLATE_IN_TEXT = _plate_pattern(f"{_PLATE_SEPARATOR}*")


def parse_plate(text: str) -> str | None:
    """The plate the answer consists of, upper case without separators, e.g. "粤B12345"."""
    compact = _PLATE_SEPARATORS.sub("", _normalise(text).upper())
    return compact if _PLATE.fullmatch(compact) else None


def find_plate(text: str) -> str | None:
    """The one plate mentioned in a sentence ("我的车牌是粤B12345谢谢"); None if none or several."""
    found = {
        _PLATE_SEPARATORS.sub("", match.group())
        for match in _PLATE_IN_TEXT.finditer(unicodedata.normalize("NFKC", text).upper())
    }
    return found.pop() if len(found) == 1 else None


# --- Mobile numbers and masking for logs ------------------------------------------------------

_MOBILE = re.compile(r"(?:\+?86|0086)?(1[3-9][0-9]{9})")
_MOBILE_SEPARATORS = re.compile(r"[\s\-–—.()]+")


def parse_mobile(text: str) -> str | None:
    """The 11 digits of a mainland mobile number, whatever spacing or country prefix was typed."""
    match = _MOBILE.fullmatch(_MOBILE_SEPARATORS.sub("", _normalise(text)))
    return match[1] if match else None


def _mask(value: str, head: int, tail: int) -> str:
    """Hide the middle of a value; a value too short to keep both ends is hidden entirely."""
    hidden = len(value) - head - tail
    if hidden <= 0:
        return "*" * len(value)
    return f"{value[:head]}{'*' * hidden}{value[-tail:]}"


def mask_mobile(mobile: str) -> str:
    """Shown as 138****5678: enough to tell records apart in logs without keeping personal data (PIPL)."""
    return _mask(mobile, 3, 4)


def mask_plate(plate: str) -> str:
    """Shown as 粤B***45: the province and city stay readable in logs, the vehicle does not (PIPL)."""
    return _mask(plate, 2, 2)


# --- Numbers ----------------------------------------------------------------------------------

_CN_DIGITS = {**dict(zip("零一二三四五六七八九", range(10), strict=True)), "〇": 0, "两": 2}
# 0-99 in digits or Chinese numerals; not inside a longer run of digits.
_NUM = r"(?:(?<![0-9])[0-9]{1,2}(?![0-9])|[零〇一二两三四五六七八九十]{1,3})"


def _number(token: str) -> int | None:
    """Read a token matched by _NUM: "25", "十", "二十四", "三十五", "零五"; None if malformed."""
    if token.isascii():
        return int(token)
    tens, ten, units = token.partition("十")
    if not ten:
        return _CN_DIGITS.get(token[-1]) if token[:-1] in ("", "零", "〇") else None
    tens_value = _CN_DIGITS.get(tens) if tens else 1
    units_value = _CN_DIGITS.get(units) if units else 0
    if not tens_value or units_value is None:
        return None
    return tens_value * 10 + units_value


def _pattern(template: str) -> re.Pattern[str]:
    """Compile a template in which NUM stands for a number in digits or Chinese numerals."""
    return re.compile(template.replace("NUM", _NUM))


# --- Days and times ---------------------------------------------------------------------------

PartOfDay = Literal["morning", "afternoon", "evening"]


@dataclass(frozen=True)
class When:
    """A day the customer named, with the clock time and/or part of the day when they gave one.

    ``part_of_day`` is the period they named (上午 alone) or, when a clock time is known, the
    period that time falls in, so a slot picker can always filter on it.
    """

    day: dt.date
    time: dt.time | None
    part_of_day: PartOfDay | None


def _date(year: int, month: int | None, day: int | None) -> dt.date | None:
    if month is None or day is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _full_date(match: re.Match[str], today: dt.date) -> dt.date | None:
    """2026-11-25, 2026年11月25日: exactly that day (a past one is refused by the caller)."""
    return _date(int(match[1]), _number(match[2]), _number(match[3]))


def _month_day(match: re.Match[str], today: dt.date) -> dt.date | None:
    """11月25日, 11-25: the next such day, so a month/day before today means next year."""
    month, day = _number(match[1]), _number(match[2])
    this_year = _date(today.year, month, day)
    if this_year is None or this_year >= today:
        return this_year
    return _date(today.year + 1, month, day)


def _day_of_month(match: re.Match[str], today: dt.date) -> dt.date | None:
    """25号: this month, or next month when that day has passed; a day the month lacks is refused."""
    day = _number(match[1])
    if day is None:
        return None
    month = today.replace(day=1)
    if day < today.day:
        month = (month + dt.timedelta(days=31)).replace(day=1)
    return _date(month.year, month.month, day)


_RELATIVE_DAYS = {"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "今天": 0, "今日": 0}


def _relative_day(match: re.Match[str], today: dt.date) -> dt.date | None:
    return today + dt.timedelta(days=_RELATIVE_DAYS[match[0]])


_WEEKDAYS = {**dict(zip("一二三四五六日", range(7), strict=True)), "天": 6}
_WEEKDAYS.update({str(number): number - 1 for number in range(1, 8)})


def _weekday(match: re.Match[str], today: dt.date) -> dt.date | None:
    """周六: the next Saturday after today (today excluded). 本周六/这周六: Saturday of this
    Monday-based week (refused by the caller once past). 下周六: Saturday of next week, 下下周六
    the week after."""
    this_week, next_weeks, weekday = match[1], match[2], _WEEKDAYS[match[3]]
    if this_week is None and next_weeks is None:
        return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    monday = today - dt.timedelta(days=today.weekday())
    return monday + dt.timedelta(weeks=len(next_weeks or ""), days=weekday)


# Tried in this order; each match is cut out before the next pattern looks, so "25日" inside
# "11月25日" is not read twice.
_DAY_RULES: dict[re.Pattern[str], Callable[[re.Match[str], dt.date], dt.date | None]] = {
    _pattern(r"([0-9]{4})\s*年\s*(NUM)\s*月\s*(NUM)\s*[日号]?"): _full_date,
    re.compile(r"(?<![0-9])([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?![0-9])"): _full_date,
    _pattern(r"(NUM)\s*月\s*(NUM)\s*[日号]?"): _month_day,
    re.compile(r"(?<![0-9])([0-9]{1,2})[-/]([0-9]{1,2})(?![0-9])"): _month_day,
    _pattern(r"(NUM)\s*[日号]"): _day_of_month,
    re.compile("|".join(_RELATIVE_DAYS)): _relative_day,
    re.compile(r"(?:(本|这)个?|(下+)个?)?\s*(?:周|星期|礼拜)([一二三四五六日天1-7])(?![0-9])"): _weekday,
}

# Chat shorthand for a day and a period together.
_SHORTHANDS = {"今早": "今天早上", "今晚": "今天晚上", "明早": "明天早上", "明晚": "明天晚上"}
_SHORTHAND = re.compile("|".join(_SHORTHANDS))


@dataclass(frozen=True)
class _Period:
    """How a named period of the day reads the hour after it: 下午3点 is 15:00, 上午3点 stays 3:00."""

    part_of_day: PartOfDay | None
    pm_hours: range  # hours said on a 12-hour clock, moved to the afternoon
    hours: range  # the 24-hour hours the period can mean; anything else is a contradiction


_MORNING = _Period("morning", range(0), range(13))
_NOON = _Period("afternoon", range(1, 11), range(11, 15))  # 中午12点, 中午1点 (13:00)
_AFTERNOON = _Period("afternoon", range(1, 12), range(12, 24))
_EVENING = _Period("evening", range(1, 12), range(17, 24))
# No period named: the store is closed at night, so "3点" means 15:00, not 03:00.
_UNNAMED = _Period(None, range(1, 7), range(24))

_PERIODS = {
    "上午": _MORNING,
    "早上": _MORNING,
    "早晨": _MORNING,
    "清晨": _MORNING,
    "中午": _NOON,
    "下午": _AFTERNOON,
    "午后": _AFTERNOON,
    "傍晚": _EVENING,
    "晚上": _EVENING,
}
_PERIOD = re.compile("|".join(_PERIODS))

_CLOCKS = (
    re.compile(r"(?<![0-9])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?![0-9])"),
    # 10点, 10点半, 10点30(分), 三点钟; not the 一点 of 早一点/快一点 ("a bit earlier").
    _pattern(
        r"(?<![早晚快慢多少好有差])(?P<hour>NUM)\s*[点时](?:钟|\s*(?P<half>半)|\s*(?P<minute>NUM)\s*分?)?"
    ),
)


def _clock(match: re.Match[str], period: _Period) -> dt.time | None:
    groups = match.groupdict()
    hour = _number(groups["hour"])
    minute = 30 if groups.get("half") else _number(groups["minute"] or "0")
    if hour is None or minute is None or minute > 59:
        return None
    if hour in period.pm_hours:
        hour += 12
    return dt.time(hour, minute) if hour in period.hours else None


def _part_of_day(clock: dt.time) -> PartOfDay:
    if clock.hour < 12:
        return "morning"
    return "afternoon" if clock.hour < 18 else "evening"


def _scan(text: str, patterns: Iterable[re.Pattern[str]]) -> tuple[list[re.Match[str]], str]:
    """Every match of the patterns, in pattern order, and the text with each match cut out."""
    found = []
    for pattern in patterns:
        while (match := pattern.search(text)) is not None:
            found.append(match)
            text = f"{text[: match.start()]} {text[match.end() :]}"
    return found, text


def parse_when(text: str, now: dt.datetime, tz: ZoneInfo) -> When | None:
    """The day, time and period in an answer such as "明天上午", "周六下午3点", "11月25日10:00".

    ``now`` must be time-zone aware; "today" is its date in ``tz``. A time without a day means
    today. None when nothing is recognised, when two days, periods or times are given
    (明天还是后天: better to re-ask than guess), when parts contradict (上午15点), or when the
    answer lies in the past.
    """
    local = now.astimezone(tz)
    today = local.date()
    expanded = _SHORTHAND.sub(lambda match: _SHORTHANDS[match[0]], _normalise(text))
    days, rest = _scan(expanded, _DAY_RULES)
    periods, rest = _scan(rest, (_PERIOD,))
    clocks, _ = _scan(rest, _CLOCKS)
    if not (days or periods or clocks) or max(len(days), len(periods), len(clocks)) > 1:
        return None
    day = _DAY_RULES[days[0].re](days[0], today) if days else today
    if day is None or day < today:
        return None
    period = _PERIODS[periods[0][0]] if periods else _UNNAMED
    if not clocks:
        return When(day, None, period.part_of_day)
    clock = _clock(clocks[0], period)
    if clock is None or (day == today and clock < local.time()):
        return None
    return When(day, clock, _part_of_day(clock))


# --- Numbered choices -------------------------------------------------------------------------

_CHOICE_NUMBER = _pattern(r"(?:选择?)?第?(NUM)\s*[个项种号家辆条]?")


def parse_choice(text: str, options: Sequence[str]) -> int | None:
    """The 0-based index of the option picked by number ("1", "１", "第一个", "一") or by text.

    A number in range wins; otherwise the text must equal one option, or be part of exactly one
    option ("定期" for "定期保养"), or contain exactly one option ("我要首保"). Case and
    full-width forms are ignored.
    """
    answer = _normalise(text).casefold()
    if not answer:
        return None
    number = _CHOICE_NUMBER.fullmatch(answer)
    if number is not None:
        index = (_number(number[1]) or 0) - 1
        if 0 <= index < len(options):
            return index
    labels = [_normalise(option).casefold() for option in options]
    tiers = (
        [index for index, label in enumerate(labels) if label == answer],
        [index for index, label in enumerate(labels) if answer in label],
        [index for index, label in enumerate(labels) if label and label in answer],
    )
    return next((found[0] for found in tiers if len(found) == 1), None)
