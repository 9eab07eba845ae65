"""Speak the contend adapter protocol (docs/adapters.md, protocol 1) so that an adapter is a class.

Subclass LockAdapter, fill in acquire/release (and extend if the lock can), and call serve():

    class MyLock(LockAdapter):
        name = "my-lock"
        version = "1.0"
        supports = {"fencing": False, "extend": False, "try_acquire": True}

        def setup(self, redis_url, key_prefix): ...
        def acquire(self, key, ttl_ms, wait_ms): ...   # Acquired(token) or None (timed out)
        def release(self, key, token): ...             # True, False (not ours) or None (unknown)

    if __name__ == "__main__":
        serve(MyLock())

An exception from a method becomes an "error" answer (the operation may or may not have
happened); the harness records it and goes on. Anything printed goes to stderr: stdout carries
protocol lines only.
"""

import json
import select
import sys
import time
import traceback

PROTOCOL = 1


def _sleep_in_select(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


def _mend_sleep():
    """Make time.sleep work under libfaketime when it does not.

    Under a client clock skew the harness runs the adapter under libfaketime with the monotonic
    clock left alone. libfaketime 0.9.10 (Debian 12) then mistranslates the absolute monotonic
    deadline CPython 3.11+ sleeps to (clock_nanosleep with TIMER_ABSTIME), and time.sleep fails
    with EINVAL. select() sleeps on a relative timeout, which it passes through: use it instead
    (library code that calls time.sleep, such as redis-py's Lock, picks it up).
    """
    try:
        time.sleep(0)
    except OSError:
        time.sleep = _sleep_in_select


_mend_sleep()


class Acquired:
    """A successful acquire: the token to release or extend with, and a fence if the lock fences."""

    def __init__(self, token, fence=None):
        self.token = str(token)
        self.fence = fence


class LockAdapter:
    """Override name, version, supports, setup, acquire, release and (optionally) extend."""

    name = "unnamed"
    version = "0"
    supports = {"fencing": False, "extend": False, "try_acquire": False}

    def setup(self, redis_url, key_prefix):
        """Connect to the server at redis_url; every key used must begin with key_prefix."""

    def acquire(self, key, ttl_ms, wait_ms):
        """Take the lock at key for ttl_ms, waiting at most wait_ms (0: try once).

        Return Acquired(token, fence=None) when the lock is ours, None when the wait ended.
        """
        raise NotImplementedError

    def release(self, key, token):
        """Give back the lock: True if it was still ours, False if not, None if unknown."""
        raise NotImplementedError

    def extend(self, key, token, ttl_ms):
        """Make the lease last ttl_ms from now: True if it was still ours, False if not."""
        raise NotImplementedError("this adapter cannot extend")


def _answer(request_id, result, **fields):
    fields.update({"id": request_id, "result": result})
    return fields


def handle(adapter, request):
    """The answer (a dict) to one request (a dict), and whether to stop after it."""
    rid = request.get("id")
    op = request.get("op")
    try:
        if op == "hello":
            adapter.setup(request["redis_url"], request["key_prefix"])
            supports = {k: bool(adapter.supports.get(k, False)) for k in ("fencing", "extend", "try_acquire")}
            # Our wall clock, as this runtime reads it: lets the harness see a clock skew take.
            return _answer(rid, "hello", protocol=PROTOCOL, name=adapter.name,
                           version=str(adapter.version), supports=supports,
                           clock_ms=int(time.time() * 1000)), False
        if op == "acquire":
            got = adapter.acquire(request["key"], int(request["ttl_ms"]), int(request["wait_ms"]))
            if got is None:
                return _answer(rid, "timeout"), False
            extra = {"token": got.token}
            if got.fence is not None:
                extra["fence"] = int(got.fence)
            return _answer(rid, "acquired", **extra), False
        if op == "release":
            owned = adapter.release(request["key"], request["token"])
            result = {True: "released", False: "not_owned", None: "unknown"}[owned]
            return _answer(rid, result), False
        if op == "extend":
            owned = adapter.extend(request["key"], request["token"], int(request["ttl_ms"]))
            return _answer(rid, "extended" if owned else "not_owned"), False
        if op == "shutdown":
            return _answer(rid, "bye"), True
        return _answer(rid, "error", message="unknown op %r" % (op,)), False
    except Exception as e:  # an error answer: the harness records it as "may have happened"
        traceback.print_exc(file=sys.stderr)
        return _answer(rid, "error", message="%s: %s" % (type(e).__name__, e)), False


def serve(adapter, stdin=None, stdout=None):
    """Answer requests from stdin on stdout until shutdown or the end of stdin."""
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    # Whatever the lock library prints must not corrupt the protocol stream.
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        _loop(adapter, stdin, out)
    finally:
        sys.stdout = saved


def _loop(adapter, stdin, out):
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError as e:
            request = None
            answer, stop = _answer(0, "error", message="not JSON: %s" % e), False
        if request is not None:
            answer, stop = handle(adapter, request)
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if stop:
            break
