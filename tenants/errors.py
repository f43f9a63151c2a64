class TenantError(Exception):
    """A business rule refused the change; the message says what to do instead."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.field = field
