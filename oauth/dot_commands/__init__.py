"""django-oauth-toolkit's own management commands, replaced.

DOT's ``createapplication``, ``cleartokens`` and ``clearcimdapplications`` write to its tables directly: no
tenant, no policy, no audit event. This app is listed before ``oauth2_provider`` in INSTALLED_APPS, so
its commands of the same names win; they refuse to run and say what to use instead, and
``mcp_platform.management.main`` (manage.py) leaves them out of ``manage.py help``.
"""
