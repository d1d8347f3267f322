"""The base of ShopLake's status enums: each names the values that count as failed once, in `failed()`."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Status(StrEnum):
    """A status read as text (reports, dq_results) whose failing values are listed once by `failed()`."""

    @classmethod
    def failed(cls) -> frozenset[Self]:
        return frozenset()

    @property
    def is_failed(self) -> bool:
        return self in type(self).failed()
