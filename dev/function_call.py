"""A stage's function called through the Invoke API for its result: the value, or one error that says it all.

``make seed``, ``make onboard`` and the sandbox's ``new-migration`` want what ``zappa invoke`` would print as the
result, and stop with the function's error and log tail when there is none. :mod:`dev.emulator.client` sends the
call and decodes the answer; this is the one place that turns a failed answer into an error message.
"""

from __future__ import annotations

from typing import Any

from dev.emulator.client import EmulatorUnreachable, LambdaClient, zappa_command

TIMEOUT = 300.0


class FunctionCallError(RuntimeError):
    """The function failed (its error type, message and log tail are in the message), or no emulator answered."""


def call(
    endpoint: str, function_name: str, function: str, payload: dict[str, Any] | None = None, timeout: float = TIMEOUT
) -> Any:
    """``function`` (``module.name``, as for ``zappa invoke``) of the Lambda ``function_name`` at ``endpoint``,
    with ``payload`` merged into the event; its JSON result."""
    try:
        answer = LambdaClient(endpoint, timeout=timeout).invoke(function_name, zappa_command(function, payload))
    except EmulatorUnreachable as exc:
        raise FunctionCallError(f"{exc}: start the sandbox with `make up`") from None
    if not answer.ok:
        error = answer.error() or {}
        raise FunctionCallError(
            f"{function} failed: {error.get('errorType')}: {error.get('errorMessage')}\n{answer.log}".rstrip()
        )
    return answer.json()
