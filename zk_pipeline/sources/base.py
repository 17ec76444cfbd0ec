"""The contract every metrics source fulfils.

Sources disagree on what they can see (a replay file has history, an RPC node
only the current state), so the contract is deliberately small: a source
returns the hourly pool snapshots it *can* provide inside a window, in raw
decimal units, and the quality layer (``quality.py``) decides what is usable.
Fixed-point conversion happens once, after validation, so that every source
is held to the same rules.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from zk_pipeline.hours import HOUR

PROTOCOLS: tuple[str, ...] = ("jediswap", "ekubo")

#: Columns of a snapshot frame, in order. ``hour`` is the UTC start of the hour
#: (tz-aware); money columns are in USD, ``price`` in quote units per base unit.
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "hour",
    "protocol",
    "pool",
    "price",
    "tvl_usd",
    "volume_usd",
    "fees_usd",
)
#: Optional columns a source may add for the quality rules: where the row came from (``source_row``,
#: e.g. "line 17") and, for a row the source already knows is unusable, why (``reject_rule``/``reject_detail``).
ROW_COLUMNS: tuple[str, ...] = ("source_row", "reject_rule", "reject_detail")


class SourceError(RuntimeError):
    """A source could not deliver data (network, protocol or format problem).

    Dagster retries the metrics asset on this error when ``retryable`` is true
    (a timeout, an overloaded server); anything else is a bug.
    """

    retryable = True


class SourceFormatError(SourceError):
    """The source's data is unusable as delivered (a file that cannot be read,
    lacks columns, is empty or garbage). Retrying cannot help, so the metrics
    asset fails at once with the reason instead of retrying.
    """

    retryable = False


class SourceUnreachable(SourceError):
    """The network gave a definite answer that waiting will not change: the
    host name does not resolve, nothing listens on the port, the network is
    unreachable, or the server refused the request (4xx). Not retried, so an
    offline machine fails in seconds with the cause instead of minutes of
    backoff.
    """

    retryable = False


@dataclass(frozen=True)
class Window:
    """The closed range of hours ``[end - hours + 1, end]``."""

    end: datetime
    hours: int

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError("window end must be timezone-aware (UTC)")
        if self.end.minute or self.end.second or self.end.microsecond:
            raise ValueError(f"window end {self.end.isoformat()} is not on an hour boundary")
        if self.hours < 1:
            raise ValueError("window must cover at least one hour")

    @property
    def start(self) -> datetime:
        return self.end - (self.hours - 1) * HOUR

    def hour_list(self) -> list[datetime]:
        return [self.start + i * HOUR for i in range(self.hours)]


def empty_snapshots() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SNAPSHOT_COLUMNS})


class MetricsSource(abc.ABC):
    """A place hourly pool snapshots come from."""

    name: str

    def coverage(self, window: Window) -> Window | None:
        """The part of ``window`` this source speaks for (``None``: none of it).

        The quality rules hold the source to every hour of its coverage: a
        replay file must deliver the whole window, a node only the hour it
        can read now.
        """
        return window

    @abc.abstractmethod
    def fetch(self, window: Window) -> pd.DataFrame:
        """Snapshots inside ``window`` with columns ``SNAPSHOT_COLUMNS``.

        May return fewer hours than asked (a live source only knows "now");
        must not return rows outside the window. Raises ``SourceError`` when
        the source cannot be read at all.
        """
