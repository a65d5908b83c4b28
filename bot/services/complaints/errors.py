"""What can go wrong when someone acts on a complaint, as types the callers can catch.

Each error has a stable `code` (for the API's JSON and for the pages to pick their wording) and
an English message that says what was wrong. A refused action changes nothing.
"""

from __future__ import annotations


class ComplaintError(Exception):
    code = "complaint_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ComplaintNotFound(ComplaintError):
    """No such complaint, or not one the actor may see (the two are not told apart)."""

    code = "not_found"

    def __init__(self, complaint_id: int | str) -> None:
        super().__init__(f"complaint {complaint_id} not found")
        self.complaint_id = complaint_id


class NotAllowed(ComplaintError):
    """The actor may see the complaint (or the store) but not do this to it."""

    code = "not_allowed"


class InvalidState(ComplaintError):
    """The complaint's status does not allow this action now (e.g. responding to a closed one)."""

    code = "invalid_state"


class InvalidInput(ComplaintError):
    """A value was missing, too long or out of range; `field` names it."""

    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConcurrentChange(ComplaintError):
    """Someone else changed the complaint in the meantime; reload and try again."""

    code = "concurrent_change"
