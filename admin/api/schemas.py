"""Field types and base models shared by the API's request and response models.

Request models are strict (JSON types as declared, no unknown fields) so that what the OpenAPI
document promises is exactly what is accepted: a documented pattern is enforced as well as the
domain parser (parse_mobile, parse_plate) behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from tortoise.models import Model
from tortoise.queryset import QuerySet

from bot.conversation.validators import PROVINCES, parse_mobile, parse_plate

MAX_ID = 2**31 - 1  # the databases' integer columns
MAX_MILEAGE_KM = 2_000_000
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_SERIAL = "[A-HJ-NP-Z0-9]"
# The canonical plate forms: ordinary (粤B12345) and new-energy (粤BD12345, 粤B12345D).
PLATE_PATTERN = rf"^[{PROVINCES}][A-HJ-NP-Z](?:{_SERIAL}{{5}}|[A-HJK]{_SERIAL}[0-9]{{4}}|[0-9]{{5}}[DF])$"


def _checked(parse: object, what: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        parsed = parse(value)  # type: ignore[operator]
        if parsed is None:
            raise ValueError(f"not a valid {what}")
        return str(parsed)

    return check


def _digits_only(value: object) -> object:
    """Query strings: "1.0", " 1" or "+1" are not integers, whatever lax parsing would make of them."""
    if isinstance(value, str) and not value.isdigit():
        raise ValueError("must be a whole number")
    return value


def _iso_date_only(value: object) -> object:
    """Query strings: only YYYY-MM-DD, not the Unix timestamps lax parsing would also take."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
QueryId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_digits_only)]
Mobile = Annotated[
    str,
    StringConstraints(pattern=r"^1[3-9][0-9]{9}$"),
    AfterValidator(_checked(parse_mobile, "mainland mobile number")),
    Field(description="11-digit mainland mobile number.", examples=["13812345678"]),
]
Plate = Annotated[
    str,
    StringConstraints(pattern=PLATE_PATTERN),
    AfterValidator(_checked(parse_plate, "plate number")),
    Field(description="Plate without separators, upper case.", examples=["粤B12345", "粤BD12345"]),
]
Vin = Annotated[
    str,
    StringConstraints(pattern=r"^[A-HJ-NPR-Z0-9]{17}$"),
    Field(description="17-character VIN (no I, O or Q).", examples=["LSVAU2180N2183294"]),
]
Kilometres = Annotated[int, Field(ge=0, le=MAX_MILEAGE_KM)]


Line32 = Annotated[str, StringConstraints(max_length=32, pattern=PRINTABLE)]
Line50 = Annotated[str, StringConstraints(max_length=50, pattern=PRINTABLE)]
Line100 = Annotated[str, StringConstraints(max_length=100, pattern=PRINTABLE)]
Line255 = Annotated[str, StringConstraints(max_length=255, pattern=PRINTABLE)]
RequiredName = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=PRINTABLE)]
QueryDate = Annotated[date, BeforeValidator(_iso_date_only)]


class RequestModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class QueryModel(BaseModel):
    """Query strings are parsed from text, so not strict; unknown parameters are still refused."""

    model_config = ConfigDict(extra="forbid")

    def lookups(self, *special: str) -> dict[str, Any]:
        """The filters given that name a column: all but the paging and the `special` ones, which
        the handler applies itself (a related record's field, a part of a name)."""
        return self.model_dump(exclude_none=True, exclude={"limit", "offset", *special})


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Paging(QueryModel):
    limit: Annotated[int, Field(ge=1, le=200), BeforeValidator(_digits_only)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_digits_only)] = 0


T = TypeVar("T")
M = TypeVar("M", bound=Model)


class Page(ResponseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Matching records in all pages.")
    limit: int
    offset: int


def changes(body: BaseModel, clearable: Collection[str], *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """A PATCH body's changes: the fields sent, where null clears a `clearable` field and leaves
    any other unchanged (as the change models' docs promise)."""
    return {
        name: value
        for name, value in body.model_dump(exclude_unset=True, exclude=set(exclude)).items()
        if value is not None or name in clearable
    }


class ById(QueryModel):
    id: QueryId


async def paginate(
    query: QuerySet[M], paging: Paging, present: Callable[[M], object] | None = None
) -> dict[str, Any]:
    """One page of `query` and the total, in the shape of Page; `present` shapes each record
    that its response model cannot read as it is."""
    items = await query.offset(paging.offset).limit(paging.limit)
    return {
        "items": items if present is None else [present(item) for item in items],
        "total": await query.count(),
        "limit": paging.limit,
        "offset": paging.offset,
    }
