"""Why a service refuses a request, in terms an HTTP layer maps to a status code (see ``api/main.py``)."""


class ServiceError(Exception):
    """A refusal whose message is safe to show the caller."""

    status = 400


class InvalidRequest(ServiceError):
    status = 422


class NotFound(ServiceError):
    status = 404


class TooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    """A configuration or a system the request needs is missing or unusable; retrying later may help."""

    status = 503


class UpstreamFailed(ServiceError):
    """A system the answer depends on (a Starknet node) failed and nothing recorded here can answer instead."""

    status = 502


class Conflict(ServiceError):
    """The request contradicts what is recorded (a model registered already, a decision executed already)."""

    status = 409
