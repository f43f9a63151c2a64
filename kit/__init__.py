"""The floor every app stands on: the egress guard and envelope encryption with its registry of encrypted
fields. Imports none of our apps (ARCHITECTURE §1)."""
