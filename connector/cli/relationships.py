"""``consent-sync relationship add|end``: purchases, subscriptions and accounts (the soft opt-in basis)."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from connector.cli import shell
from connector.cli.shell import AtOption, EmailArgument, JsonOption
from connector.core.model import RelationshipKind
from connector.errors import InputError

relationship_app = shell.group("Customer relationships (soft opt-in basis).")


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise InputError("--amount", f"{text!r} is not an amount") from None


@relationship_app.command("add")
def relationship_add(
    email: EmailArgument,
    kind: Annotated[RelationshipKind, typer.Option(help="purchase, subscription or account.")],
    started: Annotated[str, typer.Option(help="Purchase/start date (YYYY-MM-DD or ISO 8601).")],
    reference: Annotated[str | None, typer.Option(help="Order, subscription or account id.")] = None,
    item: Annotated[
        str | None,
        typer.Option(help="What it concerns (a concert, a departure, a product): notices target it."),
    ] = None,
    service_date: Annotated[
        str | None, typer.Option(help="Delivery date, or last day of the service.")
    ] = None,
    ended: Annotated[str | None, typer.Option(help="When a subscription/account ended.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Product category (repeatable).")] = None,
    amount: Annotated[str | None, typer.Option(help="Order value.")] = None,
    opt_out_offered: Annotated[
        bool, typer.Option(help="A free opt-out was offered when the address was collected.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Record a purchase, subscription or account (adds, or updates the same kind + reference)."""
    from connector.services.relationships import RelationshipInput, add_relationship

    ctx = shell.context()

    def work() -> str:
        data = RelationshipInput(
            kind=kind,
            started_at=shell.parse_moment(started, "--started") or ctx.now(),
            reference=reference,
            categories=frozenset(category or ()),
            service_date=shell.parse_moment(service_date, "--service-date"),
            ended_at=shell.parse_moment(ended, "--ended"),
            opt_out_offered=opt_out_offered,
            order_value=_amount(amount),
            item=item,
        )
        return add_relationship(ctx, email, data, shell.origin()).id

    row_id = shell.run(work)
    if as_json:
        shell.print_json({"relationship_id": row_id})
    else:
        typer.echo(f"recorded {kind.value} ({row_id})")


@relationship_app.command("end")
def relationship_end(
    email: EmailArgument,
    kind: Annotated[RelationshipKind, typer.Option(help="subscription or account (or purchase).")],
    reference: Annotated[str, typer.Option(help="Its id.")],
    at: AtOption = None,
) -> None:
    """End a subscription or close an account."""
    from connector.services.relationships import end_relationship

    ctx = shell.context()
    row = shell.run(
        lambda: end_relationship(
            ctx, email, kind, reference, shell.parse_moment(at, "--at") or ctx.now(), shell.origin()
        )
    )
    typer.echo(f"ended {kind.value} {reference} ({row.id})")
