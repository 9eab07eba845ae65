"""Unit tests of the protocol helper, with an in-memory lock (no server, no redis-py needed).

Run: python3 -m unittest discover -s adapters/python
"""

import contextlib
import io
import json
import time
import unittest

from contend_adapter import Acquired, LockAdapter, serve


class MemoryLock(LockAdapter):
    name = "memory"
    version = "1"
    supports = {"fencing": True, "extend": False, "try_acquire": True}

    def setup(self, redis_url, key_prefix):
        self.url = redis_url
        self.owner = {}
        self.fence = 0
        print("a library that prints must not break the protocol")

    def acquire(self, key, ttl_ms, wait_ms):
        if key in self.owner:
            return None
        self.fence += 1
        token = "t%d" % self.fence
        self.owner[key] = token
        return Acquired(token, fence=self.fence)

    def release(self, key, token):
        if key == "boom":
            raise RuntimeError("connection lost")
        if self.owner.get(key) != token:
            return False
        del self.owner[key]
        return True


def exchange(*requests):
    """Serves requests; answers the answers. Every stdout line must be one (prints go elsewhere)."""
    stdin = io.StringIO("".join(json.dumps(r) + "\n" for r in requests))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        serve(MemoryLock(), stdin=stdin)
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


class ProtocolTest(unittest.TestCase):
    def test_a_session_answers_each_request_with_its_id(self):
        answers = exchange(
            {"op": "hello", "id": 0, "protocol": 1, "redis_url": "redis://x", "key_prefix": "p:",
             "a_field_from_the_future": True},
            {"op": "acquire", "id": 1, "key": "p:{lock}", "ttl_ms": 1000, "wait_ms": 0},
            {"op": "acquire", "id": 2, "key": "p:{lock}", "ttl_ms": 1000, "wait_ms": 0},
            {"op": "release", "id": 3, "key": "p:{lock}", "token": "t0"},
            {"op": "release", "id": 4, "key": "p:{lock}", "token": "t1"},
            {"op": "release", "id": 5, "key": "boom", "token": "t1"},
            {"op": "extend", "id": 6, "key": "p:{lock}", "token": "t1", "ttl_ms": 1000},
            {"op": "shutdown", "id": 7},
            {"op": "acquire", "id": 8, "key": "never", "ttl_ms": 1, "wait_ms": 0},
        )
        self.assertEqual([a["id"] for a in answers], list(range(8)))
        self.assertEqual(answers[0]["result"], "hello")
        self.assertEqual(answers[0]["protocol"], 1)
        self.assertEqual(answers[0]["supports"], MemoryLock.supports)
        self.assertLess(abs(answers[0]["clock_ms"] - time.time() * 1000), 60000)
        self.assertEqual(answers[1], {"id": 1, "result": "acquired", "token": "t1", "fence": 1})
        self.assertEqual(answers[2]["result"], "timeout")
        self.assertEqual(answers[3]["result"], "not_owned")
        self.assertEqual(answers[4]["result"], "released")
        self.assertEqual(answers[5]["result"], "error")
        self.assertIn("connection lost", answers[5]["message"])
        self.assertEqual(answers[6]["result"], "error")
        self.assertEqual(answers[7]["result"], "bye")

    def test_garbage_in_gets_an_error_answer_not_a_crash(self):
        stdout = io.StringIO()
        serve(MemoryLock(), stdin=io.StringIO("not json\n"), stdout=stdout)
        self.assertEqual(json.loads(stdout.getvalue())["result"], "error")


if __name__ == "__main__":
    unittest.main()
