"""Money as the DMS and staff send it: yuan, non-negative, at most two decimals."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.services.workorders.errors import InvalidValue

CENT = Decimal("0.01")


def money(value: Decimal | str, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidValue(f"{name} {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise InvalidValue(f"{name} {value!r} must be a non-negative amount in yuan with at most 2 decimals")
    return amount.quantize(CENT)
