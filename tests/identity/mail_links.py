"""Reading the links out of people's e-mails (invitations, password resets)."""

import re

LINK = re.compile(r"https?://\S+/(?:invitation|password/reset)/[0-9a-f]{32}\.[A-Za-z0-9_-]+")


def link_in(message) -> str:
    """The one invitation or reset link of an e-mail (plain-text part), checked against the HTML part."""
    links = LINK.findall(message.body)
    assert len(links) == 1, message.body
    html = message.alternatives[0][0] if getattr(message, "alternatives", None) else ""
    assert not html or links[0] in html
    return links[0]


def path_of(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]
