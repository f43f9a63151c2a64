"""The OpenAPI document's contract beyond what DRF introspection sees.

Every operation documents the one error body (``tenants.api.errors``) for each status it can answer with,
and tenant operations document the ``X-Tenant`` header a console session names its tenant with
(``tenants.api.base.resolve_api_tenant``). A view adds statuses only it produces (a 503 from an upstream
fetch) with ``error_statuses = {"action": (503,)}``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_DESCRIPTIONS = {
    400: "The request is not valid: `fields` names each refused field (unknown fields are refused too).",
    401: "The bearer token is not valid for this API.",
    403: "Not signed in, or the credential's role or scopes do not allow this.",
    404: "No such object in the caller's tenant (or no tenant of that name that the caller administers).",
    409: "The change conflicts with the current state (a duplicate, the last owner).",
    503: "A service this operation depends on is unreachable; try again later.",
}

X_TENANT = OpenApiParameter(
    "X-Tenant", str, OpenApiParameter.HEADER, required=False,
    description="Console sessions only: the slug of the tenant to act on (default: the tenant chosen in the "
                "console, or the only one the caller administers). A bearer token names its own tenant; this "
                "header is then ignored.")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable, machine-readable code (validation_error, not_found, ...).")
    message = serializers.CharField(help_text="What went wrong and what to do, for a person.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="Per refused field, its messages.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def _is_tenant_operation(view) -> bool:
    from tenants.api.base import TenantPermission

    return any(isinstance(cls, type) and issubclass(cls, TenantPermission) for cls in view.permission_classes)


def _is_public(view) -> bool:
    return all(isinstance(cls, type) and issubclass(cls, permissions.AllowAny) for cls in view.permission_classes)


class PlatformAutoSchema(AutoSchema):
    def get_override_parameters(self):
        extra = [X_TENANT] if _is_tenant_operation(self.view) else []
        return [*super().get_override_parameters(), *extra]

    def error_statuses(self, operation: dict) -> list[int]:
        parameters = operation.get("parameters", [])
        statuses = set()
        if self.method in ("POST", "PUT", "PATCH") or any(p["in"] == "query" for p in parameters):
            statuses.add(400)
        if not _is_public(self.view):
            statuses |= {401, 403}
        if any(p["in"] == "path" for p in parameters) or _is_tenant_operation(self.view):
            statuses.add(404)
        if self.method in WRITE_METHODS:
            statuses.add(409)
        statuses |= set(getattr(self.view, "error_statuses", {}).get(getattr(self.view, "action", None), ()))
        return sorted(statuses)

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        declared = [int(code) for code in responses if code.isdigit() and int(code) >= 400]
        for status in sorted({*self.error_statuses(operation), *declared}):
            existing = responses.get(str(status), {})
            if "content" in existing:
                continue
            response = self._get_response_for_code(ErrorSerializer, str(status))
            # A view's own description of the status (why this operation answers it) is kept.
            response["description"] = existing.get("description") or _DESCRIPTIONS.get(status, "")
            responses[str(status)] = response
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def refuse_additional_properties(result, generator, request, public):
    """drf-spectacular postprocessing hook: request bodies admit only their declared fields, as the strict
    serializers (tenants.api.strict) enforce, so clients and fuzzers see the same rule the server applies."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object" and "properties" in component:
            component["additionalProperties"] = False
    return result
