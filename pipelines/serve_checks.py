"""What `duban serve` checks before it listens: a strong token, a free port, a published file it can read."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from pipelines.errors import DubanError

MIN_TOKEN_LENGTH = 16


class ServeError(DubanError):
    """`duban serve` cannot start as asked."""


class WeakTokenError(ServeError):
    """The token is missing, too short or one character repeated."""


class PortInUseError(ServeError):
    """Another program already listens on the address and port asked for."""


class PublishedLockedError(ServeError):
    """Another program holds the published warehouse open for writing, so no snapshot can be read."""


def read_token(token: str | None, token_file: str | None, environment: str | None) -> str:
    """The token from --token-file, else --token, else DUBAN_TOKEN, stripped and checked."""
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise WeakTokenError(
                f"cannot read the token file {token_file}: {error.__class__.__name__}; pass a readable --token-file FILE"
            ) from None
    elif not token:
        token = environment
    token = (token or "").strip()
    if not token:
        raise WeakTokenError("a token is required: pass --token-file FILE or set DUBAN_TOKEN")
    if len(token) < MIN_TOKEN_LENGTH or len(set(token)) == 1:
        raise WeakTokenError(
            f"the token must be at least {MIN_TOKEN_LENGTH} characters and not one character repeated; "
            "generate one with `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`"
        )
    return token


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another program listens on (the Quack server would share it and clients would fail at random).

    SO_REUSEADDR lets the probe ignore connections of an earlier server still in TIME_WAIT; Linux still
    refuses the bind while any socket listens on the port, with or without SO_REUSEPORT.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ServeError(f"cannot resolve --host {host}: {error.strerror}; pass an address such as 127.0.0.1") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise PortInUseError(
                f"port {port} on {host} is not free ({error.strerror}); another server (perhaps another "
                "`duban serve`) listens there: stop it or pass --port PORT"
            ) from None


def locked_message(published: Path, error: Exception) -> str:
    """One line naming the program that holds the published file open for writing, from DuckDB's lock error."""
    pid = re.search(r"\(PID (\d+)\)", str(error))
    holder = f"process {pid.group(1)}" if pid else "another program"
    return (
        f"{published} is open for writing in {holder}, so it cannot be read; close that program "
        "(duban build never holds the published file open) and start duban serve again"
    )
