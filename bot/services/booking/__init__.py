"""Booking (预约): capacity configuration, availability, appointments and their reminders.

The modules here own every booking rule; the chat flows, the admin pages, the JSON API and the
reminder job call them with explicit arguments and get typed results or a `BookingError`.
"""
