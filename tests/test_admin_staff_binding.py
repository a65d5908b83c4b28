"""Binding a staff member's WeChat by QR: the admin page asks WeChat for the code, the scan binds."""

from __future__ import annotations

import re

from bot.models import Role, Staff
from bot.services import staff_binding
from tests import factories
from tests.conftest import Bot
from tests.test_admin_support import Team, log_in, make_team, post_form

QR_IMAGE = re.compile(r'<img src="([^"]+)" alt="员工微信绑定二维码"')


async def show_qr(bot: Bot, member: Staff) -> str:
    """Press 生成绑定二维码 on the member's page as an admin; returns the scene WeChat was given."""
    page = f"/admin/staff/{member.id}"
    answer = await post_form(bot.client, f"{page}/wechat-qr", {}, token_from=page)
    assert answer.status == 303
    html = await (await bot.client.get(page)).text()
    image = QR_IMAGE.search(html)
    assert image, "the staff page shows no QR code"
    ticket = image[1].split("ticket=")[1]
    request = bot.wechat.state.qrcodes[ticket]
    assert request["action_name"] == "QR_STR_SCENE" and request["expire_seconds"] == 600
    return str(request["action_info"]["scene"]["scene_str"])


async def admin_team(bot: Bot) -> Team:
    team = await make_team()
    assert (await log_in(bot.client, "admin")).status == 303
    return team


async def test_scanning_the_qr_binds_the_staff_members_wechat(bot: Bot) -> None:
    team = await admin_team(bot)
    scene = await show_qr(bot, team.advisor)
    assert scene.startswith("staff-bind:")
    image = QR_IMAGE.search(await (await bot.client.get(f"/admin/staff/{team.advisor.id}")).text())
    assert image and (await bot.client.session.get(image[1].replace("&amp;", "&"))).status == 200

    answer = await bot.user("o-advisor").scan(scene)

    assert "绑定成功" in answer.text and team.advisor.name in answer.text
    assert (await Staff.get(id=team.advisor.id)).openid == "o-advisor"
    page = await (await bot.client.get(f"/admin/staff/{team.advisor.id}")).text()
    assert "已绑定" in page and not QR_IMAGE.search(page)


async def test_a_new_follower_is_bound_by_subscribing_through_the_qr(bot: Bot) -> None:
    team = await admin_team(bot)
    scene = await show_qr(bot, team.staff[Role.RESCUE_DISPATCHER])

    answer = await bot.user("o-dispatcher").subscribe(scene)

    assert "绑定成功" in answer.text
    assert (await Staff.get(id=team.staff[Role.RESCUE_DISPATCHER].id)).openid == "o-dispatcher"


async def test_a_qr_code_binds_once_and_a_second_scanner_changes_nothing(bot: Bot) -> None:
    team = await admin_team(bot)
    scene = await show_qr(bot, team.advisor)
    await bot.user("o-advisor").scan(scene)

    stranger = await bot.user("o-bystander").scan(scene)

    assert "已失效" in stranger.text
    assert (await Staff.get(id=team.advisor.id)).openid == "o-advisor"


async def test_an_expired_qr_code_binds_nobody(bot: Bot) -> None:
    team = await admin_team(bot)
    scene = await show_qr(bot, team.advisor)
    bot.clock.advance(minutes=10, seconds=1)

    answer = await bot.user("o-late").scan(scene)

    assert "已失效" in answer.text
    assert (await Staff.get(id=team.advisor.id)).openid is None
    assert "员工微信绑定二维码" not in await (await bot.client.get(f"/admin/staff/{team.advisor.id}")).text()


async def test_a_newer_qr_code_replaces_the_older_one(bot: Bot) -> None:
    team = await admin_team(bot)
    first = await show_qr(bot, team.advisor)
    second = await show_qr(bot, team.advisor)

    staff_phone = bot.user("o-advisor")  # one simulated user: distinct event times, not retries
    assert "已失效" in (await staff_phone.scan(first)).text
    assert "绑定成功" in (await staff_phone.scan(second)).text


async def test_a_wechat_bound_to_one_staff_member_is_not_moved_to_another(bot: Bot) -> None:
    team = await admin_team(bot)
    await Staff.filter(id=team.colleague.id).update(openid="o-shared-phone")
    scene = await show_qr(bot, team.advisor)

    answer = await bot.user("o-shared-phone").scan(scene)

    assert "另一个员工账号" in answer.text and team.colleague.name in answer.text
    assert (await Staff.get(id=team.advisor.id)).openid is None
    assert (await Staff.get(id=team.colleague.id)).openid == "o-shared-phone"


async def test_unbinding_from_the_admin_page(bot: Bot) -> None:
    team = await admin_team(bot)
    await bot.user("o-advisor").scan(await show_qr(bot, team.advisor))
    page = f"/admin/staff/{team.advisor.id}"

    assert (await post_form(bot.client, f"{page}/wechat-unbind", {}, token_from=page)).status == 303

    assert (await Staff.get(id=team.advisor.id)).openid is None
    assert "未绑定" in await (await bot.client.get(page)).text()


async def test_only_admins_bind_staff_wechat(bot: Bot) -> None:
    team = await make_team()
    await log_in(bot.client, "service_manager")
    page = f"/admin/staff/{team.advisor.id}"
    assert (await post_form(bot.client, f"{page}/wechat-qr", {}, token_from=page)).status == 403
    assert not bot.wechat.state.qrcodes
    assert (await Staff.get(id=team.advisor.id)).bind_token is None


async def test_a_wechat_outage_is_explained_and_binds_nothing(bot: Bot) -> None:
    team = await admin_team(bot)
    bot.wechat.state.inject(errcode=48001)  # the account may not create QR codes
    page = f"/admin/staff/{team.advisor.id}"

    assert (await post_form(bot.client, f"{page}/wechat-qr", {}, token_from=page)).status == 303

    html = await (await bot.client.get(page)).text()
    assert "微信接口暂时不可用" in html and not QR_IMAGE.search(html)


async def test_advisor_qr_scenes_still_link_customers_to_their_advisor(bot: Bot) -> None:
    shop = await factories.store()
    advisor = await factories.staff(shop, qr_scene="advisor-7")
    answer = await bot.user("o-customer").scan("advisor-7")
    assert advisor.name in answer.text
    assert (await Staff.get(id=advisor.id)).openid is None  # a customer's scan binds no staff


async def test_scene_tokens_carry_their_expiry(bot: Bot) -> None:
    team = await make_team()
    scene = await staff_binding.issue_scene(team.advisor, bot.clock.now())
    expires = staff_binding.expires_at(scene.removeprefix(staff_binding.SCENE_PREFIX))
    assert expires == bot.clock.now() + staff_binding.TOKEN_LIFETIME
    assert len(scene) <= 64  # WeChat's limit for a scene string
