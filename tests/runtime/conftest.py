from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from apizr_runtime import create_app

from specs import sample_spec, wait_until_loaded


def pytest_configure(config: pytest.Config) -> None:
    # Any warning (a pydantic serializer warning, say) is a bug of the runtime.
    config.addinivalue_line("filterwarnings", "error")
    config.addinivalue_line(
        "filterwarnings", "ignore:Using `httpx` with `starlette.testclient` is deprecated"
    )


@pytest.fixture(autouse=True)
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Run each test from an unrelated directory (restored after), as a deployment would."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """A started sample service; the import changes the working directory, hence the context."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        with TestClient(create_app(sample_spec()), raise_server_exceptions=False) as started:
            wait_until_loaded(started)
            yield started
