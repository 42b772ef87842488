"""The OAuth error tree: one class per RFC error code.

Each error carries the RFC `error` code, the HTTP status, a fixed public description that is
safe to show a client, and a private `detail` that goes to the log only.
"""

from __future__ import annotations


class OAuthError(Exception):
    error = "server_error"
    status = 500
    public_description = "The server could not complete the request."

    def __init__(self, detail: str = "", *, description: str | None = None) -> None:
        super().__init__(detail or self.error)
        self.detail = detail
        self.description = description if description is not None else self.public_description

    @property
    def www_authenticate(self) -> str | None:
        return None


class InvalidRequest(OAuthError):
    error = "invalid_request"
    status = 400
    public_description = "The request is missing a parameter or is otherwise malformed."


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401
    public_description = "Client authentication failed."

    @property
    def www_authenticate(self) -> str | None:
        return 'Basic realm="credo", error="invalid_client"'


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    status = 400
    public_description = "The provided grant is invalid, expired or revoked."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    status = 400
    public_description = "The client is not authorized to use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    status = 400
    public_description = "The grant type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    status = 400
    public_description = "The requested scope is invalid, unknown or exceeds what is allowed."


class InvalidTarget(OAuthError):
    error = "invalid_target"
    status = 400
    public_description = "The requested audience or resource is not allowed."


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    public_description = "The request was denied."


class LoginRequired(OAuthError):
    error = "login_required"  # OpenID Connect Core §3.1.2.6: prompt=none without a usable session
    status = 400
    public_description = "The user is not signed in."


class ConsentRequired(OAuthError):
    error = "consent_required"
    status = 400
    public_description = "The user has not consented to this request."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    status = 400
    public_description = "Only the 'code' response type is supported."


class RequestNotSupported(OAuthError):
    error = "request_not_supported"
    status = 400
    public_description = "Request objects are not supported."


class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401
    public_description = "The access token is missing, invalid, expired or revoked."

    def __init__(self, detail: str = "", *, description: str | None = None, scheme: str = "Bearer") -> None:
        super().__init__(detail, description=description)
        self.scheme = scheme  # "DPoP" when the token was DPoP-bound or presented as one (RFC 9449 §7.1)

    @property
    def www_authenticate(self) -> str | None:
        return f'{self.scheme} realm="credo", error="invalid_token", error_description="{self.description}"'


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5/§7.1: the DPoP proof is missing, malformed, not for this request, replayed, or not of
    the key the presented credential is bound to. At the token endpoint a 400; at a protected resource
    (`resource=True`) a 401 with a `DPoP` challenge."""

    error = "invalid_dpop_proof"
    status = 400
    public_description = "The DPoP proof is missing or invalid."

    def __init__(self, detail: str = "", *, description: str | None = None, resource: bool = False) -> None:
        super().__init__(detail, description=description)
        self.resource = resource
        if resource:
            self.status = 401

    @property
    def www_authenticate(self) -> str | None:
        if not self.resource:
            return None
        return f'DPoP realm="credo", error="{self.error}", error_description="{self.description}"'


class UseDpopNonce(InvalidDpopProof):
    """RFC 9449 §8/§9: the proof must carry the server's current nonce, sent in the `DPoP-Nonce` header."""

    error = "use_dpop_nonce"
    public_description = "Resend the request with a DPoP proof that carries the nonce in the DPoP-Nonce header."

    def __init__(self, detail: str = "", *, nonce: str, resource: bool = False) -> None:
        super().__init__(detail, resource=resource)
        self.nonce = nonce


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
    public_description = "The access token does not carry the required scope."

    @property
    def www_authenticate(self) -> str | None:
        return 'Bearer realm="credo", error="insufficient_scope"'


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"
    status = 400
    public_description = "The client metadata is invalid."


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"
    status = 400
    public_description = "A redirect URI is invalid."


class InvalidSoftwareStatement(OAuthError):
    error = "invalid_software_statement"
    status = 400
    public_description = "The software statement is invalid."


class UnapprovedSoftwareStatement(OAuthError):
    error = "unapproved_software_statement"
    status = 400
    public_description = "The software statement is not approved for use with this server."


class NotFound(OAuthError):
    error = "not_found"
    status = 404
    public_description = "The requested resource does not exist."


class PreconditionFailed(OAuthError):
    """A conditional change (If-Match) whose version is no longer the stored one (RFC 9110 §13.1.1)."""

    error = "precondition_failed"
    status = 412
    public_description = "The resource was changed since it was read; read it again and retry."


class ConcurrentChange(OAuthError):
    """A change that kept losing to concurrent changes of the same record."""

    error = "conflict"
    status = 409
    public_description = "The resource is being changed concurrently; retry."


class TooManyRequests(OAuthError):
    error = "too_many_requests"
    status = 429
    public_description = "Too many requests; retry later."

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503
    public_description = "The service is temporarily unavailable; retry later."
