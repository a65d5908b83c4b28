"""What staff read when the booking or work-order services refuse something: one Chinese message
per error code, for every workshop page (the services' own messages are for developers)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.services.booking.errors import BookingError
from bot.services.workorders.errors import WorkOrderError

FALLBACK = "操作未完成：请检查填写的内容后重试。"
MESSAGES: Mapping[str, str] = {
    # booking
    "invalid_capacity": "预约时段设置无效：请检查时段的起止时间、名额和错峰积分，时段之间不能重叠。",
    "day_not_bookable": "该日期不接受预约。",
    "slot_not_found": "该时段不存在，或不接受这类预约。",
    "slot_full": "该时段已约满。",
    "vehicle_not_found": "找不到这辆车：请核对车牌，或先由 DMS 导入车辆资料。",
    "appointment_not_found": "预约不存在，或您无权查看。",
    "appointment_closed": "该预约当前不能这样标记：已取消、已到店或已标记未到店的预约不能再改，"
    "预约时间开始后才能标记未到店。",
    # work orders
    "vehicle_in_workshop": "该车已有进行中的工单。",
    "number_taken": "该工单号已用于另一辆车。",
    "work_order_not_found": "工单不存在，或您无权查看。",
    "work_order_closed": "该工单已交车，不能再更改。",
    "invalid_stage_change": "工单不能变更到所选阶段：阶段只能按顺序前进（待料、洗车中可以跳过），"
    "也许其他人刚刚更新了工单，请按页面上当前可选的阶段操作。",
    "extra_item_not_found": "增项不存在。",
    "extra_item_answered": "客户已答复该增项，不能再更改。",
    "invalid_value": FALLBACK,
    "invoice_conflict": "发票号与已有结算记录冲突。",
}


def explain(error: BookingError | WorkOrderError) -> str:
    """The Chinese message for a refusal, by its stable code."""
    return MESSAGES.get(error.code, FALLBACK)
