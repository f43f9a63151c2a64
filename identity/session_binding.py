"""Sessions opened through a tenant's identity provider are bound to that tenant."""

import uuid

BOUND_TENANT_SESSION_KEY = "bound_tenant"


def bind_session(request, *, tenant) -> None:
    """Called at sign-in: SSO binds the session to the provider's tenant, a password unbinds it."""
    if tenant is None:
        request.session.pop(BOUND_TENANT_SESSION_KEY, None)
    else:
        request.session[BOUND_TENANT_SESSION_KEY] = str(tenant.pk)
    bind_user_to_session_tenant(request)


def bind_user_to_session_tenant(request) -> None:
    user = getattr(request, "user", None)
    value = request.session.get(BOUND_TENANT_SESSION_KEY)
    if user is not None and user.is_authenticated:
        user.bound_tenant_id = uuid.UUID(value) if value else None
