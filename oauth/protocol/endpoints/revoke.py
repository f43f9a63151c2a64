"""RFC 7009 token revocation: a client revokes its own access or refresh tokens of this tenant."""

from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.mixins import OAuthLibMixin

from .common import no_store, refuse_malformed, tenant_of
from .token import as_response, audit_refusal, client_auth_challenge


@method_decorator(csrf_exempt, name="dispatch")
class RevokeView(OAuthLibMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        tenant_of(request)
        if (refused := refuse_malformed(request)) is not None:
            return refused
        _, headers, body, status = self.create_revocation_response(request)
        if status in (400, 401):
            audit_refusal(request, body, endpoint="revoke")
        return no_store(client_auth_challenge(request, as_response(headers, body, status)))
