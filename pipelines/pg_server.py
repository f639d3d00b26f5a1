"""A private PostgreSQL server that duban creates, starts and stops: Debian's `postgresql` binaries, one cluster.

PostgreSQL refuses to run as root, so when duban runs as root the server runs as the `postgres` system user.
The server dies with the process that started it (parent-death signal) and is stopped with a fast shutdown.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.serve import ServeError
from pipelines.settings import whole_number

OWNER = "duban_owner"  # the cluster's superuser: reachable only over the unix socket, by the OS user running duban
INSTALL_HINT = "install PostgreSQL's server: apt-get install postgresql"
_PR_SET_PDEATHSIG = 1
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; the socket is <dir>/.s.PGSQL.<port>


def bindir(installed: Path = Path("/usr/lib/postgresql")) -> Path:
    """The folder holding initdb and postgres: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                candidates.append(Path(out.stdout.strip()))
        except OSError:
            pass

    def version(path: Path) -> tuple:
        return tuple(int(p) if p.isdigit() else 0 for p in path.parent.name.split("."))

    candidates += sorted(installed.glob("*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in ("initdb", "postgres")):
            return folder
    raise ServeError(f"PostgreSQL server binaries (initdb, postgres) not found; {INSTALL_HINT}")


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (bound the way PostgreSQL binds, with SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ServeError(f"cannot resolve --host {host}: {error}") from error
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
            except OSError:
                return True
    return False


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when duban is root; None when duban is not root (then it is duban's)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServeError(f"running as root, PostgreSQL needs the `postgres` system user; {INSTALL_HINT}") from None


def _child_setup(user: pwd.struct_passwd | None, die_with_parent: bool):
    def setup() -> None:
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        if die_with_parent:  # after setuid, which would clear it; SIGINT is PostgreSQL's fast shutdown
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)

    return setup


def _run(args: list, user: pwd.struct_passwd | None, what: str) -> str:
    out = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120,
        preexec_fn=_child_setup(user, False), cwd="/",
    )
    if out.returncode != 0:
        raise ServeError(f"{what} failed: {(out.stderr or out.stdout).strip()}")
    return out.stdout


def _give(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _cluster_folder(preferred: Path, user: pwd.struct_passwd | None) -> Path:
    """preferred if the server's account can write there and the socket path fits, else a private folder in /tmp."""
    preferred.mkdir(parents=True, exist_ok=True)
    _give(preferred, user)
    fits = len(str(preferred)) + len("/.s.PGSQL.65535") < _SOCKET_PATH_MAX
    reachable = user is None or subprocess.run(
        ["test", "-w", str(preferred), "-a", "-x", str(preferred)], preexec_fn=_child_setup(user, False)
    ).returncode == 0
    if fits and reachable:
        return preferred
    # the same folder for the same warehouse, so a restart after a crash replaces the cluster it left
    folder = Path(tempfile.gettempdir()) / f"duban-pg-{hashlib.sha256(str(preferred).encode()).hexdigest()[:12]}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        info = folder.lstat()
        owner = os.geteuid() if user is None else user.pw_uid
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (owner, os.geteuid()):
            folder = Path(tempfile.mkdtemp(prefix="duban-pg-"))  # not ours: never reuse it
    _give(folder, user)
    return folder


def _running_pid(data: Path) -> int | None:
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@dataclass
class PgServer:
    """One running PostgreSQL server over a fresh cluster in folder/data, socket in folder."""

    folder: Path
    host: str
    port: int
    proc: subprocess.Popen
    log: Path
    own_folder: bool

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def admin_dsn(self, dbname: str) -> str:
        """libpq connection string for the superuser over the unix socket (peer authentication)."""
        return f"host={self.folder} port={self.port} dbname={dbname} user={OWNER}"

    @classmethod
    def start(cls, preferred: Path, host: str, port: int, listen: list[str] | None = None) -> "PgServer":
        """initdb a fresh cluster and start postgres on host:port; listen are the pg_hba addresses of clients."""
        bins = bindir()
        user = _server_user()
        if port_in_use(host, port):
            raise ServeError(f"port {port} on {host} is already in use; choose another --pg-port")
        folder = _cluster_folder(preferred, user)
        data = folder / "data"
        pid = _running_pid(data)
        if pid:
            raise ServeError(f"a PostgreSQL server (pid {pid}) already runs on {data}: another `duban serve --pg-port`?")
        shutil.rmtree(data, ignore_errors=True)
        _run(
            [bins / "initdb", "-D", data, "-U", OWNER, "-E", "UTF8", "--locale=C", "--auth-local=peer",
             "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
            user, "initdb",
        )
        os_user = pwd.getpwuid(os.geteuid()).pw_name
        hosts = ["127.0.0.1/32", "::1/128"] if listen is None else listen
        hba = ["# written by duban serve: the owner over the socket, the duban role over TCP with SCRAM",
               "local all " + OWNER + " peer map=owner"]
        hba += [f"host duban duban {address} scram-sha-256" for address in hosts]
        for name, text in (("pg_hba.conf", "\n".join(hba) + "\n"), ("pg_ident.conf", f"owner {os_user} {OWNER}\n")):
            (data / name).write_text(text)
            _give(data / name, user)
        log = folder / "postgres.log"
        log.touch()
        _give(log, user)
        settings = {
            "listen_addresses": host,
            "port": port,
            "unix_socket_directories": folder,
            "unix_socket_permissions": "0700",
            "password_encryption": "scram-sha-256",
            # a snapshot of the published file, rebuilt from it on every start: durability buys nothing
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 100,
            "logging_collector": "off",
            # limits a token holder cannot raise (superuser settings): spill files per session, and queries
            # of clients that went away are cancelled within two seconds
            "temp_file_limit": f"{whole_number('DUBAN_SERVE_TEMP_MB', 1024)}MB",
            "client_connection_check_interval": "2s",
        }
        args = [bins / "postgres", "-D", data] + [x for k, v in settings.items() for x in ("-c", f"{k}={v}")]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(a) for a in args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/",
                preexec_fn=_child_setup(user, True), start_new_session=True,
            )
        server = cls(folder, host, port, proc, log, own_folder=folder != preferred)
        try:
            server._wait_ready(bins)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, bins: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServeError(f"PostgreSQL exited at start:\n{self.log_tail()}")
            ready = subprocess.run(
                [str(bins / "pg_isready"), "-q", "-h", str(self.folder), "-p", str(self.port), "-U", OWNER, "-d", "postgres"],
                timeout=10,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ServeError(f"PostgreSQL did not accept connections within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (what `pg_ctl stop -m fast` sends), then SIGKILL if it has not exited; remove the cluster."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)
        if self.own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
