"""The Official Account's custom menu, in the shape WeChat's menu/create API takes.

The demo creates it at the fake WeChat on start and the simulator page draws it from the same
definition, so the page shows exactly the menu the account would have. Every SPEC menu key is
under one of the three top-level buttons (WeChat allows 3, with up to 5 entries each).
"""

from __future__ import annotations

from typing import Any


def _click(name: str, key: str) -> dict[str, str]:
    return {"type": "click", "name": name, "key": key}


OFFICIAL_MENU: dict[str, Any] = {
    "button": [
        {
            "name": "预约维修",
            "sub_button": [
                _click("预约保养", "BOOK"),
                _click("我的预约", "MY_BOOKINGS"),
                _click("维修进度", "PROGRESS"),
            ],
        },
        {
            "name": "救援投诉",
            "sub_button": [_click("道路救援", "RESCUE"), _click("我要投诉", "COMPLAINT")],
        },
        {
            "name": "我的",
            "sub_button": [
                _click("绑定车辆", "BIND"),
                _click("我的顾问", "ADVISOR"),
                _click("我的积分", "POINTS"),
                _click("积分兑换", "REDEEM"),
            ],
        },
    ]
}


def menu_entries() -> list[tuple[str, str]]:
    """Every clickable entry as (key, label), in menu order."""
    return [(sub["key"], sub["name"]) for top in OFFICIAL_MENU["button"] for sub in top["sub_button"]]
