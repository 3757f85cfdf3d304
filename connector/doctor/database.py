"""Is the database reachable and migrated to the newest schema? Creates nothing to find out."""

from sqlalchemy.exc import SQLAlchemyError

from connector.doctor.report import DATABASE, Check, fail, ok
from connector.settings import Settings
from connector.store.engine import make_engine
from connector.store.migrate import current_revision, head_revision, missing_sqlite_file

UPGRADE = "run `consent-sync db upgrade`"


def check_database(settings: Settings) -> Check:
    url = settings.database.url
    missing = missing_sqlite_file(url)
    if missing is not None:
        return fail(DATABASE, f"not initialised (no file {missing}): {UPGRADE}")
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return fail(DATABASE, f"cannot open database.url ({reason}); check the address and that it runs")
    finally:
        engine.dispose()
    head = head_revision(url)
    if current is None:
        return fail(DATABASE, f"not initialised: {UPGRADE}")
    if current != head:
        return fail(DATABASE, f"at revision {current}, the code needs {head}: {UPGRADE}")
    return ok(DATABASE, f"reachable, schema at the newest revision ({head})")
