"""A real S3 server for the object store tests: npm's s3rver (3.7.1),
installed once into a cache directory, started on a free loopback port
with a data directory of its own and one bucket.

s3rver checks the access key (S3RVER, secret S3RVER) but not SigV4
signatures: the tests put thawlib.faultproxy, which checks them, in front.

Environment:
  THAW_S3RVER_DIR   where s3rver is installed (default /var/cache/thaw/s3rver,
                    else ~/.cache/thaw/s3rver when that is not writable)
"""

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .util import free_port

__all__ = ["S3rver", "S3RVER_VERSION", "s3rver_install"]

S3RVER_VERSION = "3.7.1"
ACCESS_KEY = SECRET_KEY = "S3RVER"


def _cache_dir():
    env = os.environ.get("THAW_S3RVER_DIR")
    if env:
        return Path(env)
    system = Path("/var/cache/thaw/s3rver")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    return Path.home() / ".cache" / "thaw" / "s3rver"


def s3rver_install(cache=None):
    """Path of the s3rver program, installed first if missing (under a
    lock: parallel sessions install once)."""
    cache = Path(cache) if cache else _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    main = cache / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    stamp = cache / f"installed-{S3RVER_VERSION}"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and main.exists():
            return main
        if not shutil.which("npm") or not shutil.which("node"):
            raise RuntimeError("s3rver needs node and npm (apt-get install nodejs npm)")
        r = subprocess.run(["npm", "install", "--prefix", str(cache), f"s3rver@{S3RVER_VERSION}",
                            "--no-audit", "--no-fund", "--loglevel=error"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not main.exists():
            raise RuntimeError(f"npm install s3rver@{S3RVER_VERSION} failed "
                               f"({r.returncode}): {r.stderr[-2000:]}")
        stamp.write_text(S3RVER_VERSION + "\n")
        return main


def _node_flags():
    """s3rver makes ListObjectsV2 continuation tokens with DES, which
    OpenSSL 3 (node >= 17) only has in its legacy provider: without it a
    listing of more than one page fails with a 500."""
    r = subprocess.run(["node", "--version"], capture_output=True, text=True)
    try:
        major = int(r.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return []
    return ["--openssl-legacy-provider"] if major >= 17 else []


class S3rver:
    """One s3rver process; endpoint, bucket, region and keys for clients."""

    def __init__(self, bucket="thaw-test", region="us-east-1"):
        self.bucket = bucket
        self.region = region
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.dir = None

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def env(self, endpoint=None):
        """What tests/it/objstore_it (and thawd) read."""
        return {
            "THAW_S3_ENDPOINT": endpoint or self.endpoint,
            "THAW_S3_BUCKET": self.bucket,
            "THAW_S3_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def start(self, timeout=30):
        main = s3rver_install()
        self.dir = tempfile.mkdtemp(prefix="thaw-s3rver-")
        self.port = free_port()
        self.log = open(Path(self.dir) / "s3rver.log", "w")
        data = Path(self.dir) / "data"
        data.mkdir()
        self.proc = subprocess.Popen(
            ["node", *_node_flags(), str(main), "-d", str(data), "-a", self.host, "-p", str(self.port),
             "--configure-bucket", self.bucket, "--silent"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"s3rver did not answer on {self.endpoint} within {timeout} s")

    def _answers(self):
        """True once an HTTP request gets an HTTP answer."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(f"GET /{self.bucket} HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n".encode())
                return s.recv(12).startswith(b"HTTP/1.1")
        except OSError:
            return False

    def log_tail(self, n=4000):
        try:
            return (Path(self.dir) / "s3rver.log").read_text()[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
