"""What Transactional does to a message's content before sending it: ``mc:edit`` regions of a template
filled from ``template_content``, then ``*|MERGE|*`` tags from the recipient's ``merge_vars`` over the
``global_merge_vars`` (merge language ``mailchimp``; names are case-insensitive, a tag without a value
becomes empty). Pure.
"""

import html as html_escape
import re
from collections.abc import Mapping

_MERGE_TAG = re.compile(r"\*\|([A-Za-z0-9_:]+)\|\*")
_EDITABLE = re.compile(
    r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)(?P<before>[^>]*?)\smc:edit=\"(?P<name>[^\"]+)\"(?P<after>[^>]*)>"
    r"(?P<inner>.*?)</(?P=tag)>",
    re.DOTALL,
)


def merge(text: str | None, values: Mapping[str, str]) -> str | None:
    """``text`` with every ``*|NAME|*`` replaced by its value (upper-cased names), or ``''``."""
    if text is None:
        return None
    upper = {name.upper(): value for name, value in values.items()}
    return _MERGE_TAG.sub(lambda m: upper.get(m.group(1).upper(), ""), text)


def fill_regions(code: str, content: Mapping[str, str]) -> str:
    """The template's HTML with each ``mc:edit="name"`` element's content replaced from ``content``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        inner = content.get(name, match.group("inner"))
        opening = f'<{match.group("tag")}{match.group("before")} mc:edit="{name}"{match.group("after")}>'
        return f"{opening}{inner}</{match.group('tag')}>"

    return _EDITABLE.sub(replace, code)


def text_of(html: str) -> str:
    """A plain-text version of HTML (``auto_text``), for templates that have no text part."""
    return html_escape.unescape(re.sub(r"<[^>]+>", "", html)).strip()


def pairs(value: object) -> dict[str, str]:
    """``[{"name": …, "content": …}]`` (merge vars, template content) as a dict; other shapes: ``{}``."""
    found: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            content = item.get("content")
            found[item["name"]] = "" if content is None else str(content)
    return found
