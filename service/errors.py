"""One exception tree for the whole service.

Every error the service raises on purpose is a ``ServiceError``. Its class carries the HTTP status,
the ICE-style ``Code`` and whether the worker should retry; the instance carries the message. The API
turns it into ICE's error envelope, the worker stores ``code``/``message`` on a failed job.

Exceptions cross the process-pool boundary by pickling, so every class here takes exactly one string
argument (the message) and nothing else; library exceptions are translated inside the child.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """The request processing has failed due to some unknown error."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalError"
    #: whether a worker may retry the job that raised it (transient infrastructure trouble)
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- request validation (400) -------------------------------------------------------------------


class MissingParameter(ServiceError):
    """A mandatory input parameter is missing."""

    status = 400
    code = "MissingParameter"

    @classmethod
    def named(cls, name: str) -> MissingParameter:
        return cls(f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


class InvalidParameter(ServiceError):
    """A parameter is not valid."""

    status = 400
    code = "InvalidParameter"

    @classmethod
    def named(cls, name: str, why: str = "") -> InvalidParameter:
        detail = f" {why}" if why else ""
        return cls(f'The specified parameter "{name}" is not valid.{detail}')


class JsonFormatInvalid(InvalidParameter):
    """A parameter or file that must hold a JSON object does not."""

    code = "InvalidParameter.JsonFormatInvalid"


class NotSupported(InvalidParameter):
    """The parameter value is not supported."""

    code = "InvalidParameter.NotSupport"


class InvalidAction(ServiceError):
    """The specified action is not valid."""

    status = 404
    code = "InvalidAction.NotFound"


class RequestTooLarge(ServiceError):
    """The request is larger than this service accepts."""

    status = 413
    code = "InvalidParameter.RequestTooLarge"


# --- lookups (404) ------------------------------------------------------------------------------


class ResourceNotFound(ServiceError):
    """The specified resource could not be found."""

    status = 404
    code = "ResourceNotFound"

    @classmethod
    def of(cls, kind: str, ident: str) -> ResourceNotFound:
        return cls(f'The specified resource for "{kind}" could not be found: {ident}')


class JobNotFound(ResourceNotFound):
    """No such job."""

    code = "JobNotFound"


class MediaAssetNotFound(ResourceNotFound):
    """No such media asset, or it was deleted (the code ICE answers for an unknown MediaId)."""

    code = "InvalidParameter.ResourceNotFound"

    @classmethod
    def named(cls, field: str, media_id: str) -> MediaAssetNotFound:
        return cls(f'The media asset "{media_id}" given in "{field}" does not exist or was deleted.')


# --- media (job failures, never retried) ---------------------------------------------------------


class MediaError(ServiceError):
    """The input media could not be processed."""

    status = 400
    code = "InvalidParameter.ResourceContentBad"


class MediaNotFound(MediaError):
    """The input media file does not exist."""

    code = "InvalidParameter.ResourceNotFound"


class MediaContentBad(MediaError):
    """The input media file is damaged, empty, has no video, or uses an unsupported codec."""

    code = "InvalidParameter.ResourceContentBad"


class MediaTooLarge(MediaError):
    """The input media exceeds a configured limit (pixels, bytes or duration)."""

    code = "InvalidParameter.ResourceTooLarge"


class CaptureOutOfRange(MediaError):
    """The requested snapshot time lies past the end of the video."""

    code = "InvalidParameter.OutOfRange"


# --- infrastructure (retryable) ------------------------------------------------------------------


class ServiceUnavailable(ServiceError):
    """The service is temporarily unavailable; try again later."""

    status = 503
    code = "ServiceUnavailable"
    retryable = True


class StorageUnavailable(ServiceUnavailable):
    """Object storage did not answer or answered with a server error."""


class QueueUnavailable(ServiceUnavailable):
    """The message broker did not confirm the message."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database is not reachable."""


class StartupTimeout(ServiceUnavailable):
    """PostgreSQL or RabbitMQ was still unreachable when SNAPSHOTD_STARTUP_TIMEOUT_S ran out."""

    retryable = False


class DependencyMisconfigured(ServiceError):
    """PostgreSQL or RabbitMQ answered and refused the configured credentials or database: retrying cannot help."""


class StorageAccessDenied(ServiceError):
    """Object storage refused access to the object."""

    status = 403
    code = "PermissionDenied.ResourceAccess"


class InternalError(ServiceError):
    """The request processing has failed due to some unknown error."""


# --- templates and pipelines -------------------------------------------------------------------


class PipelineInUse(ServiceError):
    """The pipeline still has jobs waiting or running; it can be deleted once they finish."""

    status = 409
    code = "Conflict.PipelineInUse"


class DefaultPipelineUndeletable(ServiceError):
    """The default pipeline cannot be deleted."""

    status = 403
    code = "Forbidden.DefaultPipeline"


class SystemTemplateReadOnly(ServiceError):
    """System templates are presets and cannot be changed, deleted or made the default."""

    status = 403
    code = "Forbidden.SystemTemplate"


# --- authentication ----------------------------------------------------------------------------


class AuthError(ServiceError):
    """The request could not be authenticated."""

    status = 400
    code = "IncompleteSignature"


class AccessKeyNotFound(AuthError):
    """Specified access key is not found."""

    status = 404
    code = "InvalidAccessKeyId.NotFound"


class SignatureMismatch(AuthError):
    """The request signature does not conform to Alibaba Cloud standards."""

    code = "SignatureDoesNotMatch"

    @classmethod
    def with_string_to_sign(cls, string_to_sign: str) -> SignatureMismatch:
        # The old core SDK splits this message on ':' and compares the tail with its own
        # string-to-sign, so the colon and the exact text are part of the contract.
        return cls(
            f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        )


class TimestampExpired(AuthError):
    """The request's signing time is outside the allowed window."""

    code = "InvalidTimeStamp.Expired"


class NonceUsed(AuthError):
    """The request's nonce was used before."""

    code = "SignatureNonceUsed"


class Throttled(ServiceError):
    """Request was denied due to user flow control."""

    status = 403
    code = "Throttling.User"


# --- outbound requests -------------------------------------------------------------------------


class BlockedAddress(InvalidParameter):
    """The URL points at an address this service may not reach."""

    code = "InvalidParameter.AddressNotAllowed"


class UnresolvableHost(InvalidParameter):
    """The URL's host name does not resolve."""


# --- job execution -----------------------------------------------------------------------------


class JobTimeout(ServiceError):
    """The job ran longer than its time limit."""

    code = "JobTimeout"


class AttemptsExhausted(ServiceError):
    """The job could not be completed within the allowed number of attempts."""

    code = "AttemptsExhausted"


# --- snapshot URLs -----------------------------------------------------------------------------


class JobNotFinished(InvalidParameter):
    """The job has not finished yet; its URLs are available once it succeeds."""

    code = "InvalidParameter.JobNotFinished"


class JobFailed(InvalidParameter):
    """The job failed; it has no snapshots to hand out."""

    code = "InvalidParameter.JobFailed"


class SignatureInvalid(ServiceError):
    """The URL's signature is missing or does not match."""

    status = 403
    code = "AccessDenied.SignatureInvalid"


class UrlExpired(ServiceError):
    """The URL has expired; ask GetSnapshotUrls for a new one."""

    status = 403
    code = "AccessDenied.Expired"


class OriginNotAllowed(ServiceError):
    """The page's origin is not in SNAPSHOTD_CORS_ORIGINS."""

    status = 403
    code = "AccessDenied.OriginNotAllowed"


class FileNotFound(ResourceNotFound):
    """The object of this URL no longer exists."""


# --- the reference -----------------------------------------------------------------------------


def _classes() -> list[type[ServiceError]]:
    """Every class of the tree, breadth first from the root."""
    found: list[type[ServiceError]] = []
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def error_codes() -> dict[str, tuple[str, bool, list[str]]]:
    """Every Code the service answers or fails a job with → (HTTP status, or statuses as "400 / 404" where one
    Code comes with two, as ICE's InvalidParameter.ResourceNotFound does; retryable; what it means), from the
    classes above: the reference page and the README's table are this, so they cannot drift."""
    statuses: dict[str, list[int]] = {}
    codes: dict[str, tuple[bool, list[str]]] = {}
    for cls in _classes():
        meaning = " ".join((cls.__doc__ or "").split())
        known = statuses.setdefault(cls.code, [])
        if cls.status not in known:
            known.append(cls.status)
        meanings = codes.setdefault(cls.code, (cls.retryable, []))[1]
        if meaning and meaning not in meanings:
            meanings.append(meaning)
    return {
        code: (" / ".join(map(str, sorted(statuses[code]))), retryable, meanings)
        for code, (retryable, meanings) in sorted(codes.items())
    }


def error_of(code: str | None, message: str) -> ServiceError:
    """An error of the class that answers `code` (a recorded failure, raised again where it applies);
    InternalError for a code this tree does not know."""
    for cls in _classes():
        if cls.code == code and cls is not ServiceError:
            return cls(message)
    return InternalError(message)
