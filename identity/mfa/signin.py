from . import flow


class SecondFactorSignInMixin:
    """For Django's LoginView: once the password is right, a person with a second factor is asked for it
    before the session is theirs (identity/mfa/flow.py)."""

    def form_valid(self, form):
        user = form.get_user()
        return flow.sign_in(self.request, user, backend=user.backend, methods=["pwd"],
                            next_url=self.get_success_url())
