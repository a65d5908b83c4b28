"""Work orders: opened for a plate, moved through the fixed stages, extra work (增项), settlement.

The DMS (API or import) and advisors (admin pages) call the functions of this package; chat reads progress and
answers 增项 through them. Every rule lives here:

- Stages only move forward, one at a time, except that the optional stages 待料 and 洗车中 may be
  passed by (诊断中 -> 维修中, 质检中 -> 待交车). There is no way back: a car that fails 质检 is
  reworked within 质检中 and the timeline stays truthful. Setting the stage it is already at
  changes nothing (the DMS retries), anything else is refused with `InvalidStageChange`.
- Opening a work order (已接车) for a car booked today marks the booking fulfilled.
- 待交车 is announced to the customer once per work order: `ready_notified_at` is claimed with a
  conditional update, and the outbox dedup key backs it up.
- Settling is idempotent by invoice number and leaves a durable `SettledAmountEvent` for points.
- A customer only ever reaches their own vehicles' orders and items: every customer-facing
  function filters by `customer_id`, so a plate or id of someone else's car finds nothing.
"""
