"""Typed replies: what handlers return, turned into WeChat's reply XML only at the endpoint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextReply:
    text: str


@dataclass(frozen=True)
class TransferReply:
    """Hand the conversation to WeChat's customer-service session (a person)."""


@dataclass(frozen=True)
class NoReply:
    """Nothing to say now (answered with `success`)."""


Reply = TextReply | TransferReply | NoReply
