"""Writes as API answers: an upsert's result (201 when created, 200 otherwise, 422/409 when
refused), and a save that a unique constraint refuses (409)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from admin.api.errors import Conflict, Invalid
from admin.api.registry import Reply
from bot.services import records

MESSAGES: Mapping[records.Problem, str] = {
    records.Problem.UNKNOWN_STORE: "no such store",
    records.Problem.UNKNOWN_ADVISOR: "no such active advisor",
    records.Problem.UNKNOWN_VEHICLE: "no vehicle with this plate",
    records.Problem.VIN_TAKEN: "this VIN is on record for another plate",
    records.Problem.VIN_MISMATCH: "this plate is on record with another VIN",
    records.Problem.DATES_REVERSED: "ends before the policy starts",
}


async def upsert_one(upsert: records.Upsert[Any], item: object) -> Reply:
    """Upsert one item through the same batch code the import uses."""
    (result,) = await records.save_batch(upsert, [item])
    if result.refusal is not None:
        problem = result.refusal.problem
        error = Conflict if problem.is_conflict else Invalid
        raise error(f"Refused: {MESSAGES[problem]}.", {result.refusal.field: MESSAGES[problem]})
    return Reply(result.record, 201 if result.outcome is records.Outcome.CREATED else 200)


async def save_or_conflict(record: Model, message: str, fields: Mapping[str, str] | None = None) -> None:
    """Save `record`; a unique value it takes (perhaps taken by a concurrent request since the
    handler looked) is a 409 Conflict with `message` and `fields`."""
    try:
        await record.save()
    except IntegrityError:
        raise Conflict(message, fields) from None
