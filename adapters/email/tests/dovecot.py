"""A real Dovecot IMAP server on a loopback port, started by the test suite in a private directory.

Mail runs as the unprivileged user ``mail``; the directory lives outside pytest's root-only
tmp tree because the mail processes must be able to reach it after dropping privileges.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_uid = mail
mail_gid = mail
first_valid_uid = {uid}
first_valid_gid = {gid}
default_internal_user = dovecot
default_login_user = dovenull
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lapor-dovecot-"))
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.username = "pengaduan@lapor.test"
        self.password = uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        mail = pwd.getpwnam("mail")
        self.uid, self.gid = mail.pw_uid, mail.pw_gid
        for name in ("run", "state", "mail", "home"):
            (self.root / name).mkdir()
        os.chown(self.root / "mail", self.uid, self.gid)
        os.chown(self.root / "home", self.uid, self.gid)
        (self.root / "passwd").write_text(
            f"{self.username}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::{self.root}/home/{self.username}::\n"
        )
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(CONF.format(root=self.root, port=self.port, uid=self.uid, gid=self.gid))

    def start(self, timeout: float = 20.0) -> None:
        assert self.process is None
        # Its own process group, so stop() can end the children too (as systemd does with the cgroup).
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read()!r} {self.log()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        """A real outage: the master and every imap process it started are gone, connections closed."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Session processes outlive the master for a while; a stopped service has none left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(self.username, self.password)
        return client

    def imap_config(self, **overrides: object) -> dict[str, object]:
        config: dict[str, object] = {
            "host": "127.0.0.1", "port": self.port, "tls": False, "username": self.username,
            "password": self.password, "reconnect_initial": 0.1, "reconnect_max": 1.0,
        }
        config.update(overrides)
        return config

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Drop a message straight into the maildir (as an MTA would), also while Dovecot is down."""
        base = self.root / "mail" / self.username
        if folder != "INBOX":
            base = base / f".{folder}"
        for sub in ("tmp", "new", "cur"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.lapor-test"
        temp = base / "tmp" / name
        temp.write_bytes(raw)
        for path in (self.root / "mail", self.root / "mail" / self.username, base, base / "tmp", base / "new",
                     base / "cur", temp):
            os.chown(path, self.uid, self.gid)
        os.rename(temp, base / "new" / name)
