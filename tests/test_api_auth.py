"""Who may call the API: API keys, staff tokens, roles (403) and record scopes (404)."""

from __future__ import annotations

import hashlib

from bot.models import Role
from bot.models.api_token import ApiToken
from bot.models.audit import CustomerViewLog
from tests.test_admin_support import log_in, make_team, post_form, staff_form
from tests.test_api_support import API_KEY, Api, api_fixture  # noqa: F401


async def test_no_or_wrong_credentials_get_401_with_an_error_body(api: Api) -> None:
    nobody = await api.call("GET", "/customers", anonymous=True)
    wrong_key = await api.call("GET", "/customers", anonymous=True, headers={"X-API-Key": "x" * 30})
    wrong_token = await api.call("GET", "/customers", token="st_not-a-token")

    for answer in (nobody, wrong_key, wrong_token):
        assert answer.status == 401
        assert answer.body["code"] == "unauthorized" and answer.body["message"]
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_api_key_works_in_either_header_and_acts_as_the_dms(api: Api) -> None:
    by_header = await api.call("GET", "/me")
    by_bearer = await api.call("GET", "/me", token=API_KEY)

    assert by_header.status == by_bearer.status == 200
    assert by_header.body == by_bearer.body == {"kind": "dms", "staff": None}


async def test_staff_token_is_stored_hashed_follows_the_staff_and_ends_at_logout(api: Api) -> None:
    team = await make_team()
    token = await api.token_for(team.advisor)

    me = await api.call("GET", "/me", token=token)
    stored = await ApiToken.get(staff_id=team.advisor.id)
    logout = await api.call("DELETE", "/auth/token", token=token)
    after = await api.call("GET", "/me", token=token)

    assert me.status == 200 and me.body["staff"]["role"] == "advisor"
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert logout.status == 204 and after.status == 401


async def test_staff_token_expires_and_dies_with_deactivation(api: Api) -> None:
    team = await make_team()
    expiring = await api.token_for(team.advisor)
    deactivated = await api.token_for(team.colleague)
    team.colleague.active = False
    await team.colleague.save(update_fields=["active"])

    api.bot.clock.advance(hours=12, seconds=1)

    assert (await api.call("GET", "/me", token=expiring)).status == 401
    assert (await api.call("GET", "/me", token=deactivated)).status == 401


async def test_a_password_reset_ends_the_staff_members_tokens_by_either_path(api: Api) -> None:
    team = await make_team()
    before_api_reset = await api.token_for(team.advisor)
    colleague = await api.token_for(team.colleague)

    unrelated = await api.call("PATCH", f"/staff/{team.advisor.id}", json={"on_duty": False})
    still = await api.call("GET", "/me", token=before_api_reset)
    reset = await api.call("PATCH", f"/staff/{team.advisor.id}", json={"password": "api-reset-pw-1"})
    after_api_reset = await api.call("GET", "/me", token=before_api_reset)
    before_page_reset = await api.token_for(team.advisor, "api-reset-pw-1")
    assert (await log_in(api.bot.client, "admin")).status == 303
    page_reset = await post_form(
        api.bot.client, f"/admin/staff/{team.advisor.id}/password", {"password": "page-reset-pw-1"}
    )

    assert unrelated.status == still.status == reset.status == 200
    assert after_api_reset.status == 401
    assert page_reset.status == 303
    assert (await api.call("GET", "/me", token=before_page_reset)).status == 401
    assert (await api.call("GET", "/me", token=colleague)).status == 200  # only theirs end
    assert (
        await api.call("GET", "/me", token=await api.token_for(team.advisor, "page-reset-pw-1"))
    ).status == 200


async def test_deactivation_by_the_api_ends_the_staff_members_tokens_for_good(api: Api) -> None:
    team = await make_team()
    token = await api.token_for(team.advisor)
    colleague = await api.token_for(team.colleague)

    deactivated = await api.call("PATCH", f"/staff/{team.advisor.id}", json={"active": False})
    refused = [(await api.call("GET", path, token=token)).status for path in ("/me", "/customers")]
    reactivated = await api.call("PATCH", f"/staff/{team.advisor.id}", json={"active": True})

    assert deactivated.status == reactivated.status == 200
    assert refused == [401, 401]
    assert (await api.call("GET", "/me", token=token)).status == 401  # not revived
    assert (await api.call("GET", "/me", token=colleague)).status == 200


async def test_deactivation_on_the_staff_page_ends_the_members_tokens_for_good(api: Api) -> None:
    team = await make_team()
    token = await api.token_for(team.advisor)
    assert (await log_in(api.bot.client, "admin")).status == 303
    edit, form = f"/admin/staff/{team.advisor.id}/edit", staff_form(team.advisor)

    deactivated = await post_form(api.bot.client, edit, form)
    reactivated = await post_form(api.bot.client, edit, form | {"active": "on"})

    assert deactivated.status == reactivated.status == 303
    assert await ApiToken.filter(staff_id=team.advisor.id).count() == 0
    assert (await api.call("GET", "/me", token=token)).status == 401


async def test_a_token_with_a_forged_password_check_is_refused(api: Api) -> None:
    team = await make_team()
    token = await api.token_for(team.advisor)
    secret, _, check = token.rpartition(".")
    forged = f"{secret}.{'0' * len(check)}"
    await ApiToken.filter(staff_id=team.advisor.id).update(
        token_hash=hashlib.sha256(forged.encode()).hexdigest()
    )

    assert (await api.call("GET", "/me", token=forged)).status == 401


async def test_wrong_password_is_401_and_repeated_failures_are_throttled(api: Api) -> None:
    team = await make_team()
    login = {"login": team.advisor.phone, "password": "wrong-password"}
    failures = [(await api.call("POST", "/auth/token", json=login, anonymous=True)).status for _ in range(5)]
    throttled = await api.call(
        "POST", "/auth/token", json={**login, "password": "correct-horse-9"}, anonymous=True
    )

    assert failures == [401] * 5
    assert throttled.status == 429 and throttled.body["code"] == "too_many_attempts"


async def test_roles_without_the_permission_get_403(api: Api) -> None:
    team = await make_team()
    advisor = await api.token_for(team.advisor)
    manager = await api.token_for(team.staff[Role.SERVICE_MANAGER])

    write = await api.call("POST", "/customers", json={"phone": "13700000000"}, token=advisor)
    staff_list = await api.call("GET", "/staff", token=advisor)
    export = await api.call("GET", "/exports/customers.csv", token=advisor)
    store = await api.call("POST", "/stores", json={"code": "X1", "name": "x"}, token=manager)
    logout_as_dms = await api.call("DELETE", "/auth/token")

    for answer in (write, staff_list, export, store, logout_as_dms):
        assert answer.status == 403, answer.body
        assert answer.body["code"] == "forbidden"
    assert (await api.call("GET", "/staff", token=manager)).status == 200


async def test_advisor_reads_own_customer_but_not_a_colleagues_or_another_stores(api: Api) -> None:
    team = await make_team()
    advisor = await api.token_for(team.advisor)

    own = await api.call("GET", f"/customers/{team.my_customer.id}", token=advisor)
    colleagues = await api.call("GET", f"/customers/{team.colleague_customer.id}", token=advisor)
    other_store = await api.call("GET", f"/customers/{team.other_customer.id}", token=advisor)
    listed = await api.call("GET", "/customers", token=advisor)
    vehicles = await api.call("GET", "/vehicles", token=advisor)

    assert own.status == 200 and own.body["vehicles"][0]["plate"] == "粤B12345"
    assert colleagues.status == other_store.status == 404
    assert colleagues.body["code"] == "not_found"
    assert [c["id"] for c in listed.body["items"]] == [team.my_customer.id]
    assert [v["customer_id"] for v in vehicles.body["items"]] == [team.my_customer.id]
    views = await CustomerViewLog.filter(staff_id=team.advisor.id).values_list("customer_id", flat=True)
    assert views == [team.my_customer.id]


async def test_manager_sees_their_store_and_gm_sees_all(api: Api) -> None:
    team = await make_team()
    manager = await api.token_for(team.staff[Role.AFTERSALES_MANAGER])
    gm = await api.token_for(team.staff[Role.GM])

    store_view = await api.call("GET", "/customers", token=manager)
    other = await api.call("GET", f"/customers/{team.other_customer.id}", token=manager)
    group_view = await api.call("GET", "/customers", token=gm)

    assert {c["store_id"] for c in store_view.body["items"]} == {team.store.id}
    assert store_view.body["total"] == 2 and other.status == 404
    assert group_view.body["total"] == 3


async def test_a_login_no_staff_record_could_hold_is_refused_as_input(api: Api) -> None:
    """Regression: an over-long login reached the database (PostgreSQL: 500)."""
    answer = await api.call("POST", "/auth/token", json={"login": "x" * 51, "password": "x"}, anonymous=True)
    assert answer.status == 422 and set(answer.body["fields"]) == {"login"}
