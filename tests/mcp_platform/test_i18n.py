"""Every end-user page is translated, completely, into every language in settings.LANGUAGES.

The end-user templates are listed once, in END_USER_TEMPLATES (a page people see who are not console users:
sign-in, consent, approval waiting, errors, account pages, e-mails to them). For each of them the templates are
compiled by Django's own engine and walked:

- every text a person can read (text between tags, ``alt``/``title``/``placeholder``/``aria-label``, string
  literals printed by ``{{ }}``) must be inside ``{% translate %}`` or ``{% blocktranslate %}``;
- every message those tags look up, and every ``gettext``-family call in our Python code, must have a
  non-empty, non-fuzzy translation in each catalog, with the same ``%(name)s`` placeholders.

The compiled catalogs (.mo) are committed, so that ``run.sh``, the container image and a wheel need no GNU
gettext; the last test proves that each .mo says exactly what its .po says.
"""

from __future__ import annotations

import ast
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.template import engines
from django.template.base import TextNode, VariableNode
from django.template.defaulttags import IfNode
from django.template.loader_tags import BlockNode, ExtendsNode
from django.templatetags.i18n import BlockTranslateNode, TranslateNode

ROOT = Path(settings.BASE_DIR)
TEMPLATES = ROOT / "templates"

# The pages and e-mails people see who are not console users (glob patterns under templates/). The console,
# the admin and the API docs stay English (tenants/locale.py). A new end-user template goes here.
END_USER_TEMPLATES = (
    "base.html", "_back.html", "403.html", "404.html", "500.html",
    "errors/*.html",
    "identity/tenant_login.html", "identity/tenant_home.html", "identity/sso_error.html",
    "oauth/consent.html", "oauth/error.html", "oauth/connected_apps.html",
    "oauth/registration/awaiting_approval.html", "oauth/registration/_trust.html",
    "identity/people/*.html",  # invitations, password reset, sessions
    "identity/email/*",  # the invitation and password reset mails (subject, text and HTML)
    "identity/mfa/account.html", "identity/mfa/challenge.html", "identity/mfa/_panel_header.html",  # second factors
)
FIRST_PARTY = ("kit", "audit", "jobs", "tenants", "mcp_registry", "oauth", "identity", "mcp_platform")
TRANSLATED_LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
GETTEXT_CALLS = {"gettext": 1, "gettext_lazy": 1, "_": 1, "gettext_noop": 1, "ngettext": 2, "ngettext_lazy": 2,
                 "pgettext": (1, 1), "pgettext_lazy": (1, 1), "npgettext": (1, 2), "npgettext_lazy": (1, 2)}
VISIBLE_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
LETTER = re.compile(r"[^\W\d_]")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# In {{ }}: _("...") is translated (compiled into a plain string, so read from the token), "..." printed as
# it stands or as the argument of |default is text nobody translated.
TRANSLATED_LITERAL = re.compile(r"""_\(["'](.*?)["']\)""")
BARE_LITERAL = re.compile(r"""(?:^|\|default(?:_if_none)?:)["'](.*?)["']""")
MARK = "\x00"  # stands for anything the template engine fills in: a translation, a variable, a tag


def end_user_template_names() -> list[str]:
    names = []
    for pattern in END_USER_TEMPLATES:
        matches = sorted(str(path.relative_to(TEMPLATES)) for path in TEMPLATES.glob(pattern) if path.is_file())
        assert matches, f"END_USER_TEMPLATES names {pattern!r}, which matches no template: update the list"
        names += matches
    return names


def compiled(name: str):
    return engines["django"].engine.get_template(name)


def has_children(node) -> bool:
    return isinstance(node, IfNode) or any(getattr(node, name, None) for name in node.child_nodelists)


def walk(nodelist, blocks=None):
    """Every node in source order as the page is assembled (a child's blocks inside its parent's markup,
    so that text in an attribute like ``class="{% block body_class %}...`` is seen in place), branches of
    {% if %} one after the other."""
    blocks = blocks or {}
    for node in nodelist:
        if isinstance(node, ExtendsNode):
            # The most derived template's blocks win, as when Django renders it.
            yield from walk(compiled(literal_of(node.parent_name)).nodelist, {**node.blocks, **blocks})
            continue
        if isinstance(node, BlockNode) and node.name in blocks and blocks[node.name] is not node:
            yield from walk([blocks[node.name]], blocks)
            continue
        yield node
        if isinstance(node, TranslateNode | BlockTranslateNode):
            continue
        if isinstance(node, IfNode):
            for _condition, branch in node.conditions_nodelists:
                yield from walk(branch, blocks)
            continue
        for attribute in node.child_nodelists:
            yield from walk(getattr(node, attribute, None) or [], blocks)


def literal_of(filter_expression) -> str | None:
    var = getattr(filter_expression, "var", None)
    if isinstance(var, str):  # a constant the engine resolved when it compiled the tag
        return var
    return var.literal if isinstance(getattr(var, "literal", None), str) else None


def template_messages(template) -> set[tuple[str | None, str, str | None]]:
    """(context, msgid, msgid_plural) of every lookup the template's translate tags make at run time."""
    messages = set()
    for node in walk(template.nodelist):
        if isinstance(node, TranslateNode):
            context = literal_of(node.message_context) if node.message_context else None
            messages.add((context, literal_of(node.filter_expression), None))
        elif isinstance(node, BlockTranslateNode):
            context = literal_of(node.message_context) if node.message_context else None
            singular, _vars = node.render_token_list(node.singular)
            plural = node.render_token_list(node.plural)[0] if node.countervar else None
            messages.add((context, singular, plural))
        elif isinstance(node, VariableNode):
            messages |= {(None, msgid, None) for msgid in TRANSLATED_LITERAL.findall(node.filter_expression.token)}
    return messages


class VisibleText(HTMLParser):
    """Text a person reads in HTML where the template engine's output is MARK."""

    HIDDEN = {"script", "style", "code"}  # code: identifiers (error codes, scopes), not prose

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden_depth += 1
        self.found += [value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data):
        if not self.hidden_depth:
            self.found.append(data)


def untranslated_text(template) -> list[str]:
    skeleton = []
    for node in walk(template.nodelist):
        if isinstance(node, TextNode):
            skeleton.append(node.s)
        elif isinstance(node, VariableNode):
            # A literal it may print stands in place, so that the HTML around it tells whether anyone reads
            # it (text, alt=...) or not (lang=..., class=...).
            skeleton.append(MARK + "".join(BARE_LITERAL.findall(node.filter_expression.token)))
        elif isinstance(node, TranslateNode | BlockTranslateNode) or not has_children(node):
            skeleton.append(MARK)
    parser = VisibleText()
    parser.feed("".join(skeleton))
    parser.close()
    bare = [" ".join(text.replace(MARK, " ").split()) for text in parser.found]
    return [text for text in bare if LETTER.search(text)]


def python_messages() -> set[tuple[str | None, str, str | None]]:
    messages = set()
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                shape = GETTEXT_CALLS.get(name)
                strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if shape is None or not strings:
                    continue
                context, count = shape if isinstance(shape, tuple) else (0, shape)
                if len(strings) < context + count:
                    continue
                messages.add((strings[0] if context else None, strings[context],
                              strings[context + 1] if count == 2 else None))
    return messages


def catalog(language: str) -> dict:
    po = polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))
    return {(entry.msgctxt, entry.msgid): entry for entry in po if not entry.obsolete}


def translation_problems(language: str, messages) -> list[str]:
    entries = catalog(language)
    problems = []
    for context, msgid, plural in sorted(messages, key=lambda m: (m[0] or "", m[1])):
        entry = entries.get((context, msgid))
        if entry is None:
            problems.append(f"missing: {msgid!r} (run makemessages, then translate)")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {msgid!r}")
        translations = list(entry.msgstr_plural.values()) if plural else [entry.msgstr]
        if not translations or not all(t.strip() for t in translations):
            problems.append(f"untranslated: {msgid!r}")
        expected = set(PLACEHOLDER.findall(msgid)) | set(PLACEHOLDER.findall(plural or ""))
        for text in translations:
            # Japanese has one plural form: it may leave out a count the English plural needs to show.
            if text.strip() and set(PLACEHOLDER.findall(text)) - expected:
                problems.append(f"placeholders: {msgid!r} -> {text!r} names one the source does not fill")
            elif text.strip() and not plural and set(PLACEHOLDER.findall(text)) != expected:
                problems.append(f"placeholders: {msgid!r} -> {text!r} drops one")
    return problems


@pytest.mark.parametrize("name", end_user_template_names())
def test_end_user_template_has_no_text_outside_translate_tags(name):
    assert untranslated_text(compiled(name)) == [], f"{name}: wrap these in {{% translate %}} / {{% blocktranslate %}}"


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_every_end_user_message_is_translated(language):
    messages = set()
    for name in end_user_template_names():
        messages |= template_messages(compiled(name))
    messages |= python_messages()
    assert len(messages) > 50  # the walk found the pages' messages at all
    assert translation_problems(language, messages) == []


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_committed_mo_says_what_the_po_says(language, tmp_path):
    directory = ROOT / "locale" / language / "LC_MESSAGES"
    po = polib.pofile(str(directory / "django.po"))
    assert po.metadata.get("Language") == language
    po.save_as_mofile(str(tmp_path / "django.mo"))
    with open(directory / "django.mo", "rb") as committed, open(tmp_path / "django.mo", "rb") as fresh:
        committed, fresh = gettext.GNUTranslations(committed), gettext.GNUTranslations(fresh)
    body = {key: value for key, value in fresh._catalog.items() if key != ""}
    assert {key: value for key, value in committed._catalog.items() if key != ""} == body, \
        f"locale/{language}: compile again (python manage.py compilemessages) and commit the .mo"
    assert committed.plural(2) == fresh.plural(2) and committed.plural(1) == fresh.plural(1)


def test_the_checks_catch_what_they_look_for():
    """The walker is not vacuous: bare text, an untranslated attribute and a printed literal are found, and a
    message missing from a catalog is reported."""
    engine = engines["django"].engine
    template = engine.from_string('{% load i18n %}<p lang="{{ l|default:\'en\' }}">{% translate "Fine" %}</p>'
                                  '<p title="Hover me">{{ x }}</p>{% if a %}<b>Bare words</b>{% endif %}'
                                  '{{ y|default:"Nothing" }}<code>an_id</code>'
                                  '{% blocktranslate with n=x %}Also {{ n }} fine{% endblocktranslate %}')
    assert untranslated_text(template) == ["Hover me", "Bare words", "Nothing"]
    assert template_messages(template) == {(None, "Fine", None), (None, "Also %(n)s fine", None)}
    assert translation_problems("de", {(None, "Not a message anywhere", None)}) == [
        "missing: 'Not a message anywhere' (run makemessages, then translate)"]
