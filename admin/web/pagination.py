"""Pagination for list pages: `paginate(request, queryset)` and the `pager` macro in macros.html."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from tortoise.models import Model
from tortoise.queryset import QuerySet
from yarl import URL

M = TypeVar("M", bound=Model)

PER_PAGE = 20


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    number: int
    pages: int
    total: int
    url: URL  # the list's URL with its filters, for links to other pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def link(self, number: int) -> str:
        return str(self.url.update_query(page=number))


async def paginate(request: web.Request, queryset: QuerySet[M], *, per_page: int = PER_PAGE) -> Page[M]:
    """The page the `page` query parameter asks for, clamped to the pages that exist."""
    total = await queryset.count()
    pages = max(1, -(-total // per_page))
    number = min(max(_int(request.query.get("page")), 1), pages)
    items: list[Any] = await queryset.offset((number - 1) * per_page).limit(per_page)
    return Page(items=items, number=number, pages=pages, total=total, url=request.rel_url)


def _int(value: str | None) -> int:
    try:
        return int(value or 1)
    except ValueError:
        return 1
