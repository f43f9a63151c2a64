from .session_binding import BOUND_TENANT_SESSION_KEY, bind_user_to_session_tenant


class SessionTenantBindingMiddleware:
    """Marks request.user with the tenant its session is bound to (see tenants.selectors.bound_tenant_id):
    a session opened through tenant A's identity provider is not a member session anywhere else."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.session.get(BOUND_TENANT_SESSION_KEY):
            bind_user_to_session_tenant(request)
        return self.get_response(request)
