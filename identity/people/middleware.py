from .sessions import session_touched


class SessionActivityMiddleware:
    """Keeps each signed-in session's last use, address and tenants seen (identity/people/sessions.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.COOKIES and hasattr(request, "session"):
            session_touched(request)
        return self.get_response(request)
