"""A real PostgreSQL for the fleet tests: Debian's postgresql-15, a
private cluster initialised into a temporary directory (initdb, trust
authentication on loopback only), started on a free port with its own
socket directory, stopped and removed at the end. The server runs as the
postgres user (it refuses root); the tests connect as "thaw"."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .util import free_port

__all__ = ["Postgres", "pg_bin"]


def pg_bin(name):
    """A PostgreSQL program of the newest installed major version."""
    base = Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.glob("*") if (p / "bin" / name).exists()),
                      key=lambda p: int(p.name) if p.name.isdigit() else 0)
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15)")
    return str(versions[-1] / "bin" / name)


class Postgres:
    """One private cluster; url() for a database in it."""

    user = "thaw"

    def __init__(self):
        self.dir = None
        self.port = None

    def _as_postgres(self, argv, check=True, timeout=120):
        pw = pwd.getpwnam("postgres")

        def drop():
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        return subprocess.run(argv, preexec_fn=drop, capture_output=True, text=True,
                              timeout=timeout, check=check, cwd=self.dir)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="thaw-pg-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self._as_postgres([pg_bin("initdb"), "-D", f"{self.dir}/data", "-A", "trust",
                           "-U", self.user, "--no-sync"])
        self._ctl("start")
        return self

    def _ctl(self, action, mode=None):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=200")
        argv = [pg_bin("pg_ctl"), "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w",
                "-t", "60", "-o", opts, action]
        if mode:
            argv += ["-m", mode]
        self._as_postgres(argv)

    def restart(self):
        """A restart as an operator does it (fast shutdown: connections cut)."""
        self._ctl("restart", "fast")

    def url(self, db="postgres"):
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def sql(self, statement, db="postgres"):
        r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url(db),
                            "-c", statement], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return r.stdout.strip()

    def create_db(self, name):
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def log_tail(self, n=4000):
        try:
            return Path(self.dir, "log").read_text()[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.dir and Path(self.dir, "data", "postmaster.pid").exists():
            self._as_postgres([pg_bin("pg_ctl"), "-D", f"{self.dir}/data", "-w", "-m",
                               "immediate", "stop"], check=False)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
