"""Mailchimp Transactional's webhook signature (``X-Mandrill-Signature``). Pure.

Provisional copy on the ``notices`` branch of the helper the ``transactional`` branch owns (identical
spec, /work/notes/transactional-interface.md): base64 of HMAC-SHA1, keyed with the webhook's auth key,
over the URL Transactional posted to followed by every POST parameter, sorted by name, as name + value.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping


def mandrill_signature(key: str, url: str, params: Mapping[str, str]) -> str:
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
