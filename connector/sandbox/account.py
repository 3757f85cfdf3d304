"""The sandbox's account, as ``GET /3.0/`` (the API root) answers it.

Mailchimp's root links are absolute URLs on the account's data-centre host
(``https://us6.api.mailchimp.com/3.0/``); the sandbox poses as data centre ``knobs.dc`` and says so the same
way, so a client can read the account's data centre from the answer as it would from Mailchimp's.
"""

from typing import Any

from connector.core.remote import MemberStatus
from connector.sandbox.runtime import SandboxRuntime


def account_document(runtime: SandboxRuntime) -> dict[str, Any]:
    dc = runtime.knobs.dc
    with runtime.state.lock:
        audiences = list(runtime.state.data.audiences.values())
        subscribed = sum(
            1 for a in audiences for m in a.present_members() if m.status is MemberStatus.SUBSCRIBED
        )
    root = f"https://{dc}.api.mailchimp.com/3.0/"
    return {
        "account_id": f"sandbox{dc}",
        "login_id": f"sandbox{dc}",
        "account_name": "consent-sync sandbox",
        "email": "owner@example.invalid",
        "first_name": "Sandbox",
        "last_name": "Owner",
        "username": "sandbox",
        "role": "owner",
        "pricing_plan_type": "monthly",
        "account_timezone": "Europe/Oslo",
        "pro_enabled": False,
        "total_subscribers": subscribed,
        "_links": [
            {
                "rel": "self",
                "href": root,
                "method": "GET",
                "targetSchema": f"https://{dc}.api.mailchimp.com/schema/3.0/Definitions/Root/Response.json",
            },
            {"rel": "lists", "href": f"{root}lists", "method": "GET"},
        ],
    }
