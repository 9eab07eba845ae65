"""A contend adapter for redis-py's Lock (redis.lock.Lock), as an application would use it:
client.lock(name, timeout=ttl, blocking_timeout=wait), acquire(), release(), extend()."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis  # noqa: E402
from redis.exceptions import LockNotOwnedError  # noqa: E402

from contend_adapter import Acquired, LockAdapter, serve  # noqa: E402


class RedisPyLock(LockAdapter):
    name = "redis-py-lock"
    version = redis.__version__
    supports = {"fencing": False, "extend": True, "try_acquire": True}

    def setup(self, redis_url, key_prefix):
        self.client = redis.Redis.from_url(redis_url)
        self.client.ping()
        self.held = {}

    def acquire(self, key, ttl_ms, wait_ms):
        lock = self.client.lock(
            key,
            timeout=ttl_ms / 1000.0,
            blocking=wait_ms > 0,
            blocking_timeout=wait_ms / 1000.0 if wait_ms > 0 else None,
        )
        if not lock.acquire():
            return None
        token = lock.local.token.decode()
        self.held[token] = lock
        return Acquired(token)

    def release(self, key, token):
        lock = self.held.pop(token)
        try:
            lock.release()
        except LockNotOwnedError:
            return False
        return True

    def extend(self, key, token, ttl_ms):
        try:
            self.held[token].extend(ttl_ms / 1000.0, replace_ttl=True)
        except LockNotOwnedError:
            return False
        return True


if __name__ == "__main__":
    serve(RedisPyLock())
