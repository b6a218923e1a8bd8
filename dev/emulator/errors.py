"""AWS-shaped error responses of the Lambda service (as in SAM CLI's ``lambda_error_responses.py``).

Lambda's REST-JSON protocol puts the error code in the ``x-amzn-ErrorType`` header and ``{"Type", "message"}`` in the
body; botocore turns that into ``ClientError`` with ``Error.Code``, so clients (boto3, the AWS CLI, ``zappa invoke``)
get the same exception classes they get from AWS.

These are *service* errors: the function did not run. Errors raised by the function are not here: they are a 200 with
``X-Amz-Function-Error`` (see :mod:`.invoke_api`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Lambda's documented payload limits (bytes). Sync: 6 MB request and response. Async (Event): 1 MB since 2025.
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024


@dataclass
class LambdaServiceError(Exception):
    """An error the service answers with instead of running the function."""

    status: int
    code: str
    message: str
    error_type: str = "User"  # Lambda's body "Type": "User" for caller errors, "Service" for ours

    def body(self) -> bytes:
        return json.dumps({"Type": self.error_type, "message": self.message}).encode()

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "x-amzn-ErrorType": self.code}


def resource_not_found(arn: str) -> LambdaServiceError:
    return LambdaServiceError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def unsupported_qualifier(arn: str, qualifier: str) -> LambdaServiceError:
    """Only $LATEST exists locally: Lambda answers a missing version or alias with ResourceNotFoundException."""
    return LambdaServiceError(
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn}:{qualifier} (the local emulator serves $LATEST only; drop the qualifier)",
    )


def invalid_json(detail: str) -> LambdaServiceError:
    return LambdaServiceError(
        400,
        "InvalidRequestContentException",
        f"Could not parse request body into json: Could not parse payload into json: {detail}",
    )


def request_too_large(limit: int) -> LambdaServiceError:
    return LambdaServiceError(
        413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    )


def not_in_enum(value: str, field: str, allowed: tuple[str, ...]) -> LambdaServiceError:
    """Lambda's ValidationException for a header whose value is not one of its enum's members."""
    return LambdaServiceError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(allowed)}]",
    )


def invalid_parameter(message: str) -> LambdaServiceError:
    return LambdaServiceError(400, "InvalidParameterValueException", message)


def raw_command_refused() -> LambdaServiceError:
    """Zappa's raw_command is exec() of arbitrary Python: refuse it unless the emulator was started to allow it."""
    return LambdaServiceError(
        403,
        "AccessDeniedException",
        "raw_command (exec of arbitrary Python) is disabled in the local emulator; "
        "restart it with --allow-raw-command if you really want it",
    )


def remote_database_refused(message: str) -> LambdaServiceError:
    """The function's variables point at a database that is not on this machine (dev/guard.py): it is not run."""
    return LambdaServiceError(403, "AccessDeniedException", message)


def unknown_operation(method: str, path: str) -> LambdaServiceError:
    return LambdaServiceError(
        404, "UnknownOperationException", f"{method} {path} is not an operation this emulator serves", "Service"
    )


def service_error(message: str) -> LambdaServiceError:
    return LambdaServiceError(500, "ServiceException", message, "Service")
