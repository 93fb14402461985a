from __future__ import annotations

import functools
import types

import pytest

from gdw_core import InvalidTask, TaskRegistry, UnknownTask, task


async def plain(x: int) -> int:
    return x


@task(name="custom.tasks:renamed", timeout=3)
async def decorated() -> None:
    return None


def test_names_are_module_colon_qualname() -> None:
    reg = TaskRegistry([plain])
    assert reg.names() == [f"{__name__}:plain"]
    assert reg.get(f"{__name__}:plain").is_async is True


def test_decorator_name_and_defaults() -> None:
    spec = TaskRegistry().register(decorated)
    assert spec.name == "custom.tasks:renamed" and spec.defaults.timeout == 3


def test_lambdas_get_local_names() -> None:
    spec = TaskRegistry().register(lambda: 1)
    assert spec.name.startswith("local:") and spec.is_async is False


def test_unknown_names_and_bad_things() -> None:
    reg = TaskRegistry()
    with pytest.raises(UnknownTask, match="os:system"):
        reg.get("os:system")
    with pytest.raises(InvalidTask):
        reg.register(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidTask):
        reg.register(int)
    with pytest.raises(InvalidTask):
        task(name="no colon")


def test_same_name_for_another_function_is_refused() -> None:
    reg = TaskRegistry()
    reg.register(plain, "a.b:c")
    with pytest.raises(InvalidTask, match="already registered"):
        reg.register(decorated, "a.b:c")


def test_partial_of_async_is_async() -> None:
    assert TaskRegistry().register(functools.partial(plain, 1), "m:p").is_async is True


def test_register_module_prefers_marked_functions() -> None:
    mod = types.ModuleType("fake_mod")
    exec(
        "from gdw_core import task\n"
        "@task\nasync def marked(): pass\n"
        "async def unmarked(): pass\n"
        "def _private(): pass\n",
        mod.__dict__,
    )
    assert [s.name for s in TaskRegistry().register_module(mod)] == ["fake_mod:marked"]
    mod2 = types.ModuleType("fake_mod2")
    exec("async def a(): pass\ndef b(): pass\ndef _c(): pass\nfrom os import getcwd\n", mod2.__dict__)
    assert sorted(s.name for s in TaskRegistry().register_module(mod2)) == ["fake_mod2:a", "fake_mod2:b"]
