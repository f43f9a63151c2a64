"""Protected Resource Metadata endpoints (public) and the console's resource pages."""

from __future__ import annotations

import json
import keyword
import re
import shlex
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from kit import documents
from kit.errors import ApplicationError, add_to_form
from tenants.console import TenantConsoleMixin

from . import importer, prm, selectors, services
from .forms import ManagementTokenForm, ResourceCreateForm, ResourceUpdateForm, ScopeForm, ToolForm
from .models import HostingMode

# --- Protected Resource Metadata (RFC 9728) -------------------------------------------------------


def _not_found(description: str) -> JsonResponse:
    return JsonResponse({"error": "not_found", "error_description": description}, status=404)


@require_safe
def gateway_prm(request, slug, name):
    """/.well-known/oauth-protected-resource/t/<slug>/mcp/<name> (path insertion for gateway resources)."""
    document = prm.gateway_document(request.tenant, name)
    if document is None:
        return _not_found(f"tenant '{slug}' has no active gateway resource '{name[:60]}'")
    return documents.django_response(request, document)


@require_safe
def mirrored_prm(request, slug, resource_id):
    """/t/<slug>/resources/<id>/protected-resource-metadata: the document mcp_guard mirrors."""
    document = prm.mirror_document(request.tenant, resource_id)
    if document is None:
        return _not_found(f"tenant '{slug}' has no active resource {resource_id}")
    return documents.django_response(request, document)


# --- Console --------------------------------------------------------------------------------------

def _split(text: str) -> list[str]:
    return [part for part in (text or "").replace(",", " ").split() if part]


# The snippet's server port when the resource URI names none: clear of the platform's 8000, the demo Notes
# server's 8765 (run.sh) and mcp-guard gateway's 8080.
SNIPPET_DEFAULT_PORT = 8766


def _snippet_port(resource) -> int:
    """The port the snippet's server listens on: the resource URI's own (the server must answer there),
    else SNIPPET_DEFAULT_PORT; never the platform's own port."""
    platform_port = urlsplit(settings.PUBLIC_URL).port or 8000
    try:
        port = urlsplit(resource.uri or "").port
    except ValueError:
        port = None
    if port and port != platform_port:
        return port
    return SNIPPET_DEFAULT_PORT if SNIPPET_DEFAULT_PORT != platform_port else SNIPPET_DEFAULT_PORT + 1


def _snippet_tool(resource) -> str:
    """A tool the registry lists for the resource (its first by name), or a placeholder that says so."""
    tool = selectors.tools_of(resource).first()
    if tool is None:
        return ("# Placeholder: the registry lists no tools for this resource yet. Register each tool and the\n"
                "# scopes it needs (console or API, or Import tools); mcp_guard then refuses unlisted tools.\n"
                "@mcp.tool()\n"
                "def hello(name: str) -> str:\n"
                "    return f\"Hello, {name}\"\n")
    function = re.sub(r"\W", "_", tool.name)
    if not function.isidentifier() or keyword.iskeyword(function):
        function = f"tool_{function}"
    scopes = " ".join(sorted(scope.name for scope in tool.required_scopes.all())) or "none"
    return (f"# {tool.name!r} is in the registry (needs: {scopes}); register every tool the server offers.\n"
            f"@mcp.tool(name={tool.name!r})\n"
            f"def {function}() -> str:\n"
            f"    return {('replace with what ' + tool.name + ' does')!r}\n")


def guard_snippet(resource) -> str:
    """What an MCP server author pastes to protect a server with mcp_guard: an install command that works
    today (mcp-guard is not on PyPI yet: the platform checkout's mcp_guard directory is its distribution),
    a tool the registry lists, and a port that is not the platform's."""
    package = settings.BASE_DIR / "mcp_guard"
    return (
        f"# pip install \"{package}[mcp]\"  (mcp_guard + PyJWT, cryptography, httpx; the mcp extra: the MCP SDK)\n"
        "from mcp.server.mcpserver import MCPServer\n"
        "from mcp_guard import protect\n\n"
        f"mcp = MCPServer({resource.display_name or resource.name!r})\n\n"
        f"{_snippet_tool(resource)}\n"
        "# Verifies tokens against the tenant's issuer, serves this resource's PRM at its well-known path,\n"
        "# answers 401/403 challenges, enforces each tool's scopes from the registry and refuses tools it\n"
        "# does not list.\n"
        f"app = protect(mcp.streamable_http_app(), {prm.mirror_url(resource)!r})\n"
        f"# run: uvicorn server:app --port {_snippet_port(resource)}\n"
    )


class ResourceMixin(TenantConsoleMixin):
    section = "console:resources"

    def get_resource(self):
        resource = selectors.resource_of(self.tenant, self.kwargs["resource_id"])
        if resource is None:
            raise Http404("no such resource in this tenant")
        return resource


class ClientCompatibilityView(TenantConsoleMixin, TemplateView):
    """docs/clients.md in the console, beside the resources it is about: which MCP clients connect, what
    they send and which tenant settings they need. The repository's file is the one source."""

    template_name = "mcp_registry/client_compatibility.html"
    section = "console:resources"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        path = settings.BASE_DIR / "docs" / "clients.md"
        context.update(text=path.read_text(encoding="utf-8") if path.exists() else "docs/clients.md is missing "
                       "from this installation.")
        return context


class ResourcesView(TenantConsoleMixin, TemplateView):
    template_name = "mcp_registry/resources.html"
    section = "console:resources"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        q = self.request.GET.get("q", "")
        context.update(resources=selectors.resources_of(self.tenant, search=q), q=q,
                       form=kwargs.get("form") or ResourceCreateForm())
        return context

    def post(self, request, slug):
        form = ResourceCreateForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            scopes = [{"name": s} for s in _split(data.pop("scopes"))]
            try:
                resource = services.resource_create(tenant=self.tenant, actor=request.user, request=request,
                                                    scopes=scopes, **data)
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, f"Resource {resource.name} registered as {resource.uri}.")
                return redirect("console:resource", slug=slug, resource_id=resource.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ResourceDetailView(ResourceMixin, TemplateView):
    template_name = "mcp_registry/resource.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        resource = kwargs.get("resource") or self.get_resource()
        document = prm.prm_document(resource, mirror=False)
        prm_url = prm.well_known_url(resource.uri) if resource.is_gateway else prm.mirror_url(resource)
        context.update(
            resource=resource,
            scopes=selectors.scopes_of(resource),
            tools=selectors.tools_of(resource),
            prm_json=json.dumps(document, indent=2),
            prm_url=prm_url,
            prm_well_known_url=prm.well_known_url(resource.uri),
            prm_curl=f"curl -s {shlex.quote(prm_url)}",
            snippet=guard_snippet(resource),
            update_form=ResourceUpdateForm(initial={f: getattr(resource, f) for f in ResourceUpdateForm.base_fields}),
            scope_form=ScopeForm(), tool_form=ToolForm(), token_form=ManagementTokenForm(),
            proposal=kwargs.get("proposal"),
            proposal_json=json.dumps(kwargs["proposal"]) if kwargs.get("proposal") else "",
            gateway=resource.hosting_mode == HostingMode.GATEWAY,
        )
        return context


class ResourceActionView(ResourceMixin, View):
    """POST-only edits of one resource; each verb calls one service and comes back to the page."""

    def post(self, request, slug, resource_id, verb):
        resource = self.get_resource()
        handler = getattr(self, "do_" + verb.replace("-", "_"), None)
        if handler is None:
            raise Http404(f"unknown action '{verb}'")
        try:
            response = handler(request, resource)
        except ApplicationError as exc:
            messages.error(request, str(exc))
            response = None
        except importer.ImportFailed as exc:
            messages.error(request, str(exc))
            response = None
        if response is not None:
            return response
        if verb == "delete" and not selectors.resource_of(self.tenant, resource_id):
            return redirect("console:resources", slug=slug)
        return redirect("console:resource", slug=slug, resource_id=resource_id)

    def _form(self, form_class, request):
        form = form_class(request.POST)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise ApplicationError(f"{field}: {' '.join(errors)}", field=field)
        return form.cleaned_data

    def do_update(self, request, resource):
        data = self._form(ResourceUpdateForm, request)
        if resource.is_gateway:
            data.pop("uri")
        else:
            data.pop("upstream_url")
        services.resource_update(resource=resource, actor=request.user, request=request, **data)
        messages.success(request, "Resource saved.")

    def do_disable(self, request, resource):
        services.resource_disable(resource=resource, actor=request.user, request=request)
        messages.success(request, "Resource disabled: no new tokens, PRM withdrawn.")

    def do_enable(self, request, resource):
        services.resource_enable(resource=resource, actor=request.user, request=request)
        messages.success(request, "Resource enabled.")

    def do_delete(self, request, resource):
        services.resource_delete(resource=resource, actor=request.user, request=request)
        messages.success(request, f"Resource {resource.name} deleted.")

    def do_verify(self, request, resource):
        resource = services.resource_verify(resource=resource, actor=request.user, request=request)
        if resource.verification_error:
            messages.error(request, f"Verification failed: {resource.verification_error}")
        else:
            messages.success(request, "Verified: the server publishes this resource's metadata with this issuer, "
                                      "and its URL answers as a protected MCP server.")

    def do_scope_save(self, request, resource):
        data = self._form(ScopeForm, request)
        services.scope_save(resource=resource, actor=request.user, request=request, **data)
        messages.success(request, f"Scope {data['name']} saved.")

    def do_scope_delete(self, request, resource):
        scope = resource.scopes.filter(name=request.POST.get("name", "")).first()
        if scope is None:
            raise Http404("no such scope")
        services.scope_delete(scope=scope, actor=request.user, request=request)
        messages.success(request, f"Scope {scope.name} deleted.")

    def do_tool_save(self, request, resource):
        data = self._form(ToolForm, request)
        services.tool_save(resource=resource, actor=request.user, request=request, name=data["name"],
                           description=data["description"], scopes=_split(data["scopes"]))
        messages.success(request, f"Tool {data['name']} saved.")

    def do_tool_delete(self, request, resource):
        tool = resource.tools.filter(name=request.POST.get("name", "")).first()
        if tool is None:
            raise Http404("no such tool")
        services.tool_delete(tool=tool, actor=request.user, request=request)
        messages.success(request, f"Tool {tool.name} deleted.")

    def do_management_token(self, request, resource):
        data = self._form(ManagementTokenForm, request)
        services.resource_set_management_token(resource=resource, actor=request.user, request=request,
                                               token=data["token"])
        messages.success(request, "Management token saved." if data["token"] else "Management token cleared.")

    def do_gateway_identity_secret(self, request, resource):
        secret = request.POST.get("secret", "")
        services.resource_set_gateway_identity_secret(resource=resource, actor=request.user, request=request,
                                                      secret=secret)
        messages.success(request, "Identity assertion secret saved: the upstream now gets X-MCP-Identity."
                         if secret.strip() else "Identity assertion turned off.")

    def do_import_preview(self, request, resource):
        listed = importer.list_server_tools(importer.import_target(resource),
                                            token=services.management_token(resource))
        proposal = importer.propose(resource, listed, strategy=request.POST.get("strategy", "group"))
        view = ResourceDetailView(request=request, kwargs=self.kwargs, tenant=self.tenant, membership=self.membership)
        context = view.get_context_data(resource=resource, proposal=proposal)
        return view.render_to_response(context)

    def do_import_apply(self, request, resource):
        try:
            proposal = json.loads(request.POST.get("proposal", ""))
            accept = set(request.POST.getlist("accept"))
            arguments = importer.proposal_to_apply(proposal, accept=accept)
        except (ValueError, KeyError, TypeError) as exc:
            raise ApplicationError("the import proposal was not readable; list the tools again") from exc
        diff = services.tools_apply_import(resource=resource, actor=request.user, request=request, **arguments)
        messages.success(request, f"Imported: {len(diff['added'])} added, {len(diff['changed'])} changed, "
                                  f"{len(diff['removed'])} removed.")
