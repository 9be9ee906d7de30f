"""The demo identity provider: django-oauth-toolkit, with the claims an OpenID Connect client expects."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class DemoValidator(OAuth2Validator):  # type: ignore[misc]  # an untyped base (Any)
    """Puts the user's email and name in identity tokens (scopes ``email`` and ``profile``)."""

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "preferred_username": "profile"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "name": user.get_full_name() or user.get_username(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.get_username(),
        }
