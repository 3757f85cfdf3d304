"""``consent-sync campaigns check``: the campaign guard on demand (exit 1 when a campaign is flagged)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import shell
from connector.cli.shell import JsonOption

if TYPE_CHECKING:
    from connector.services.context import AppContext

campaigns_app = shell.group("The campaign guard: campaigns that would reach people who may only get notices.")
AudienceArgument = Annotated[
    str | None, typer.Argument(help="Audience name (default: every configured audience).", show_default=False)
]


@campaigns_app.command("check")
def check(audience: AudienceArgument = None, as_json: JsonOption = False) -> None:
    """Read the audience's saved, paused and scheduled campaigns and flag any whose recipients are not
    one of our "Marketing: <purpose>" segments (or a segment built only from our marketing tags)."""
    ctx = shell.context()
    documents: list[dict[str, Any]] = []
    flagged = 0
    for name in shell.audiences(ctx, audience):
        result = shell.run(functools.partial(_check_one, ctx, name))
        flagged += len(result.flagged)
        if as_json:
            documents.append(_document(result))
            continue
        typer.echo(f"{name}: {len(result.findings)} campaigns checked, {len(result.flagged)} flagged")
        for finding in result.findings:
            mark = "ok     " if finding.safe else "FLAGGED"
            typer.echo(
                f"  {mark} {finding.campaign_id} {finding.title!r} ({finding.status}): {finding.reason}"
            )
    if as_json:
        shell.print_json({"audiences": documents, "flagged": flagged})
    if flagged:
        raise SystemExit(1)


def _check_one(ctx: AppContext, name: str) -> Any:
    from connector.sync.campaigns import check_audience_campaigns
    from connector.sync.connect import open_gateway

    with open_gateway(ctx.settings.mailchimp) as gateway:
        return check_audience_campaigns(ctx, gateway, name)


def _document(result: Any) -> dict[str, Any]:
    from connector.sync.campaigns import finding_document

    return {
        "audience": result.audience,
        "checked_at": result.checked_at.isoformat(),
        "campaigns": [finding_document(f) for f in result.findings],
        "flagged": len(result.flagged),
    }
