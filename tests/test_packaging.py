"""The wheel's contents as pyproject.toml declares them: every package under src/, and the
demo's data (the top-level fixtures/demo/) as ``bsarchive.demo_data``.

Building a wheel here would need a build backend and several seconds; the packages list is
what decides its contents, so that is what is checked, with the data read the way
``bsarchive demo`` reads it.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import httpx

from bsarchive.demo import DEMO_DATA, DEMO_INSTANCES, DemoWeb, demo_statuses
from tests.support import paths

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def test_every_package_under_src_is_listed_for_the_wheel() -> None:
    src = ROOT / "src"
    found = {".".join(init.parent.relative_to(src).parts) for init in src.rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == found | {DEMO_DATA}


def test_demo_data_package_is_the_top_level_fixtures_demo() -> None:
    assert SETUPTOOLS["package-dir"][DEMO_DATA] == "fixtures/demo"
    assert (paths.FIXTURES / "demo" / "__init__.py").is_file()
    # The generator stays out of the wheel: the data package holds no code but its marker.
    assert (paths.FIXTURES / "make_demo.py").is_file()
    assert [p.name for p in (paths.FIXTURES / "demo").rglob("*.py")] == ["__init__.py"]


def test_the_generators_stay_out_of_the_package() -> None:
    # Synthetic timelines for the tests and benches come from fixtures/synthetic.py; the
    # wheel carries only what `bsarchive demo` serves.
    assert (paths.FIXTURES / "synthetic.py").is_file()
    src = ROOT / "src" / "bsarchive"
    assert [p.name for p in src.rglob("*.py") if "def synthetic_" in p.read_text("utf-8")] == []


def test_demo_reads_its_instances_and_blogs_as_package_resources() -> None:
    data = resources.files(DEMO_DATA)
    for instance in DEMO_INSTANCES:
        assert data.joinpath(f"{instance}.json").is_file()
        assert demo_statuses(instance)
    with DemoWeb() as web:
        assert web.hosts() == sorted(p.name for p in (paths.FIXTURES / "demo" / "web").iterdir())
        response = httpx.get(
            f"http://127.0.0.1:{web.port}/blog/feed/", headers={"Host": "podnosh.example"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
