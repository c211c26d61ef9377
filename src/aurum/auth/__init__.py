"""Authentication: OIDC bearer tokens and Aurum API keys."""
