"""The workflow tests run on every storage backend of the contract suite (memory, Redis, Redis
Cluster): the ``storage`` fixture comes from tests/contract/conftest.py."""

from tests.contract.conftest import manual_clock, storage

__all__ = ["manual_clock", "storage"]
