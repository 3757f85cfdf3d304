"""The composition root's product: settings, engine, keys and clock, built once and passed in."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from connector.settings import Settings, suppression_key
from connector.store.engine import make_engine


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Origin:
    """Who made a change (``actor``) and through which entry path (``source``)."""

    actor: str
    source: str


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    engine: Engine
    suppression_key: bytes
    clock: Callable[[], datetime] = system_clock

    def now(self) -> datetime:
        return self.clock()


def build_context(settings: Settings, clock: Callable[[], datetime] = system_clock) -> AppContext:
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    return AppContext(
        settings=settings, engine=engine, suppression_key=suppression_key(settings), clock=clock
    )
