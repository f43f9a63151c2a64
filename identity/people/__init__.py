"""People: invitations, password resets and the sessions a person holds (issue 20).

How a person gets in (an invitation), gets back in (a password reset) and sees or ends where they are
signed in (sessions). Second factors live beside this package, not in it.
"""
