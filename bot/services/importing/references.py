"""Stores and advisors named in a file by code, name or phone, resolved to ids once per import."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bot.conversation.validators import parse_mobile
from bot.models import Role, Staff, Store
from bot.services.importing.cells import CellError


@dataclass(frozen=True)
class References:
    stores: dict[str, int]  # by code and by name
    advisor_phones: dict[str, int]
    advisor_names: dict[str, list[tuple[int, int | None]]]  # name -> [(id, store id)]

    @classmethod
    async def load(cls, store_id: int | None = None) -> References:
        """Every store; the active advisors of `store_id` when given (a store's own import may
        name only its own advisors), else all of them."""
        all_stores = await Store.all()
        stores = {store.name: store.id for store in all_stores}
        stores.update({store.code: store.id for store in all_stores})  # a code wins over a name
        phones: dict[str, int] = {}
        names: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        advisors = Staff.filter(role=Role.ADVISOR, active=True)
        if store_id is not None:
            advisors = advisors.filter(store_id=store_id)
        for advisor in await advisors:
            phones[advisor.phone] = advisor.id
            names[advisor.name].append((advisor.id, advisor.store_id))  # type: ignore[attr-defined]
        return cls(stores, phones, dict(names))

    def store(self, code_or_name: str) -> int:
        try:
            return self.stores[code_or_name]
        except KeyError:
            raise CellError("未知门店：请填写系统中的门店编码或名称") from None

    def advisor(self, name_or_phone: str, store_id: int | None) -> int:
        """An advisor by phone, or by a name that is unique (within the row's store, when given)."""
        phone = parse_mobile(name_or_phone)
        if phone is not None:
            if phone in self.advisor_phones:
                return self.advisor_phones[phone]
            raise CellError("没有这个手机号的在职服务顾问")
        candidates = self.advisor_names.get(name_or_phone, [])
        if store_id is not None and len(candidates) > 1:
            candidates = [c for c in candidates if c[1] == store_id]
        if len(candidates) == 1:
            return candidates[0][0]
        if candidates:
            raise CellError("有多位同名服务顾问，请改填顾问手机")
        raise CellError("没有这个名字的在职服务顾问")
