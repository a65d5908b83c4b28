"""Staff tokens: log in for a token, log out, and ask who the credentials belong to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from admin.api import rules
from admin.api.errors import TooManyAttempts, Unauthorized
from admin.api.principal import issue_token, revoke_token
from admin.api.registry import Call, Reply, Routes
from admin.api.schemas import PRINTABLE, RequestModel, ResponseModel
from admin.api.staff import StaffOut
from admin.auth import LoginOutcome, attempt_login

routes = Routes("auth")


class Login(RequestModel):
    # 50: the longest login column (Staff.username); a longer one could never log in
    login: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=PRINTABLE)] = Field(
        description="The staff member's phone or username."
    )
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Token(ResponseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    staff: StaffOut


class Me(ResponseModel):
    kind: Literal["dms", "staff"]
    staff: StaffOut | None


@routes.route("POST", "/auth/token", access=None, body=Login, response=Token, errors=(401, 429))
async def create_token(call: Call, body: Login) -> Token:
    """Log in with phone or username and password for a staff token.

    The token expires after 12 hours. Failed logins are throttled per login and per client.
    """
    result = await attempt_login(
        body.login, body.password, client=call.client, throttle=call.throttle, now=call.now
    )
    if result.outcome is LoginOutcome.THROTTLED:
        raise TooManyAttempts("Too many failed logins; try again in 15 minutes.")
    if result.staff is None:
        raise Unauthorized("Wrong login or password.")
    token, expires_at = await issue_token(result.staff, call.now)
    return Token(token=token, expires_at=expires_at, staff=StaffOut.model_validate(result.staff))


@routes.route("DELETE", "/auth/token", access=rules.STAFF_TOKEN, statuses=(204,))
async def delete_token(call: Call) -> Reply:
    """Log out: the staff token used for this request stops working."""
    if call.principal.token_id is not None:
        await revoke_token(call.principal.token_id)
    return Reply(None, 204)


@routes.route("GET", "/me", access=rules.ANYONE, response=Me)
async def who_am_i(call: Call) -> Me:
    """Who the credentials belong to: the DMS (API key) or a staff member."""
    staff = call.principal.staff
    if staff is None:
        return Me(kind="dms", staff=None)
    return Me(kind="staff", staff=StaffOut.model_validate(staff))
