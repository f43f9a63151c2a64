"""Benchmarks of the platform beside its peers (plain django-oauth-toolkit, node-oidc-provider).

``python -m bench all`` (see bench/README.md); not imported by the platform.
"""
