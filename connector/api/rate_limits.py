"""Rate limits of public consent capture: sign-ups per client IP, confirmation mails per address.

Counters live in the database (``capture_limits``), keyed by a keyed hash of the IP or address, so the
limits hold across workers and restarts and the table holds no address. A refused request counts nothing.
"""

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request

from connector.services.context import AppContext
from connector.settings import ConsentCaptureSettings
from connector.store.capture_limits import count_hit
from connector.store.engine import unit_of_work


class RateLimitedError(Exception):
    """Over a limit: ``message`` says which, ``retry_after`` in whole seconds when to try again."""

    def __init__(self, field: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Limit:
    field: str
    key: str
    most: int
    window: timedelta
    message: str


def client_ip(request: Request, capture: ConsentCaptureSettings) -> str:
    """The client's IP: the configured proxy header's last entry when one is configured, else the peer."""
    if capture.client_ip_header:
        forwarded = request.headers.get(capture.client_ip_header, "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.client.host if request.client else "unknown"


def admit_sign_up(ctx: AppContext, ip: str, email: str) -> None:
    """Count this sign-up against its IP and its address; ``RateLimitedError`` (nothing counted) if over."""
    capture = ctx.settings.consent_capture
    limits = [
        Limit(
            "ip",
            _key(ctx, "ip", ip),
            capture.sign_ups_per_ip,
            timedelta(minutes=capture.ip_window_minutes),
            "too many sign-ups from this network; nothing was recorded, please try again later",
        ),
        Limit(
            "email",
            _key(ctx, "email", email),
            capture.confirmations_per_address,
            timedelta(hours=capture.address_window_hours),
            "too many confirmation e-mails for this address; nothing was recorded, please try again later",
        ),
    ]
    _admit(ctx, limits)


def admit_privacy_page(ctx: AppContext, ip: str, subject: str) -> None:
    """Count one request to a privacy page against its IP and its link (``subject``: the token or the
    contact); ``RateLimitedError`` (nothing counted) if over either limit."""
    prefs = ctx.settings.preferences
    window = timedelta(minutes=prefs.window_minutes)
    message = "too many requests; nothing was changed, please try again in a few minutes"
    limits = [
        Limit("ip", _key(ctx, "privacy-ip", ip), prefs.requests_per_ip, window, message),
        Limit("link", _key(ctx, "privacy-link", subject), prefs.requests_per_token, window, message),
    ]
    _admit(ctx, limits)


def admit_fresh_link(ctx: AppContext, ip: str, address: str) -> None:
    """Count one fresh-link e-mail against the IP and the address it goes to (per day)."""
    prefs = ctx.settings.preferences
    message = "a fresh link was sent recently; please check your inbox or try again tomorrow"
    limits = [
        Limit(
            "ip",
            _key(ctx, "fresh-link-ip", ip),
            prefs.fresh_links_per_address * 3,
            timedelta(days=1),
            message,
        ),
        Limit(
            "email",
            _key(ctx, "fresh-link", address),
            prefs.fresh_links_per_address,
            timedelta(days=1),
            message,
        ),
    ]
    _admit(ctx, limits)


def _admit(ctx: AppContext, limits: list[Limit]) -> None:
    now = ctx.now()
    with unit_of_work(ctx.engine) as session:
        for limit in limits:
            if limit.most == 0:
                continue
            started, hits = count_hit(session, limit.key, now, limit.window)
            if hits > limit.most:
                retry_after = _seconds_until(started + limit.window, now)
                raise RateLimitedError(limit.field, limit.message, retry_after)


def _key(ctx: AppContext, kind: str, value: str) -> str:
    digest = hmac.new(ctx.suppression_key, f"capture-limit:{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()}"


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))
