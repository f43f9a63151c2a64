"""One JSON reader for every request body the platform parses (the REST API and the registration endpoints).

Why: Python's JSON decoder raises ``RecursionError`` (not ``ValueError``) on deeply nested input, which
DRF's parser does not catch, and a JSON string may hold a lone surrogate (``"\\ud800"``) or a NUL that no
database column can store: each was a 500 on every write endpoint. Here such bodies are refused before
any view sees them, with a clear message, and the nesting is bounded well below the interpreter's stack
(serializers and the audit scrubber walk values recursively).
"""

from __future__ import annotations

import codecs
import json
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONBodyError(ValueError):
    """The body is not JSON the platform accepts; the message says why (never echoes the body)."""


def _check(value) -> None:
    """Iterative walk (a recursive one would hit the very limit being enforced)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise JSONBodyError(f"the JSON document is nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            raise JSONBodyError("a JSON string contains a NUL character or an unpaired surrogate (\\ud800-\\udfff), "
                                "which cannot be stored")


def load_json(text: str | bytes):
    """``json.loads`` for untrusted bodies: raises JSONBodyError for bad JSON, too deep nesting and
    unstorable characters."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text)
    except RecursionError as exc:
        raise JSONBodyError(f"the JSON document is nested deeper than {MAX_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise JSONBodyError("the body is not UTF-8") from exc
    except ValueError as exc:
        raise JSONBodyError(f"the body is not valid JSON: {str(exc)[:120]}") from exc
    _check(value)
    return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser on top of ``load_json`` (the REST API's only JSON parser, DEFAULT_PARSER_CLASSES)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read() if stream is not None else b""
            return load_json(codecs.decode(raw, encoding) if raw else "")
        except (JSONBodyError, UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
