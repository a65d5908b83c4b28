"""An upsert's result as an API answer: 201 when created, 200 otherwise, 422/409 when refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
