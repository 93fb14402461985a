"""Shared test setup. Real redis-server processes are started by tests/redis/plugin.py on free
loopback ports (never the shared 6379); a missing redis-server binary fails the run with one line
saying how to install it — Redis tests are never skipped silently."""

pytest_plugins = ["tests.redis.plugin"]
