"""The booking and workshop demo rows load on top of the demo data, and load again harmlessly."""

from __future__ import annotations

from bot.clock import FrozenClock
from bot.demo.data import load_demo_data
from bot.demo.workshop_data import load_workshop_demo
from bot.models import Appointment, ExtraItem, ExtraItemStatus, SlotWindow, Store, WorkOrder, WorkStage
from bot.settings import Settings
from tests.backends import Backend
from tests.test_booking_support import TZ


async def test_workshop_demo_loads_once_whatever_the_number_of_starts(
    db: Backend, clock: FrozenClock
) -> None:
    await load_demo_data(clock.now().astimezone(TZ).date())
    for _ in range(2):
        await load_workshop_demo(Settings(), clock.now())

    assert await SlotWindow.all().count() == 4 * 6 * await Store.all().count()
    assert await Appointment.all().count() == 1
    stages = {o.number: o.stage for o in await WorkOrder.all()}
    assert stages == {"DEMO-RO-0001": WorkStage.REPAIRING, "DEMO-RO-0002": WorkStage.READY}
    assert [i.status for i in await ExtraItem.all()] == [ExtraItemStatus.PENDING]
