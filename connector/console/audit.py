"""Every console action in the admin audit log (``admin_audit``), as ``console:<user>`` with the route."""

from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminAuditRow


def audit(ctx: AppContext, user: str, role: str, method: str, route: str, status: int) -> None:
    row = AdminAuditRow(
        at=ctx.now(), actor=f"console:{user}", scope=role[:8], method=method, route=route[:200], status=status
    )
    with unit_of_work(ctx.engine) as session:
        session.add(row)
