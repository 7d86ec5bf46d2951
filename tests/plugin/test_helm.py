"""The Helm chart rule: the target's fields and the image reference reach the packaged chart."""

from __future__ import annotations

import io
import tarfile

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.testutil.rule_runner import QueryRule, RuleRunner

from apizr.helm import ImageReference, ServiceChart, ServiceChartRequest
from plugin.helpers import engine_failure, make_rule_runner

DIGEST = "sha256:" + "0f" * 32
BUILD = """\
notebook_api(
    name="churn_api",
    source="churn.py",
    version="2024.6",
    chart_version="1.2.3",
    port=9090,
    graceful_timeout=20,
    replicas=3,
    cpu_limit="1",
)
notebook_api(name="bad_bounds", source="churn.py", min_replicas=4, max_replicas=2)
"""


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner(extra_rules=[QueryRule(ServiceChart, [ServiceChartRequest])])
    rule_runner.write_files({"src/models/BUILD": BUILD, "src/models/churn.py": "def f(): ...\n"})
    return rule_runner


def chart_of(rule_runner: RuleRunner, name: str, image: ImageReference) -> ServiceChart:
    request = ServiceChartRequest(Address("src/models", target_name=name), image)
    return rule_runner.request(ServiceChart, [request])


def test_chart_carries_the_fields_and_the_image(rule_runner):
    chart = chart_of(
        rule_runner, "churn_api", ImageReference("registry.example/churn", "v1", DIGEST)
    )
    assert chart.filename == "churn-api-1.2.3.tgz"
    (archive,) = rule_runner.request(DigestContents, [chart.digest])
    assert archive.path == chart.filename
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    metadata = files["churn-api/Chart.yaml"]
    assert "version: 1.2.3\n" in metadata and 'appVersion: "2024.6"\n' in metadata
    values = files["churn-api/values.yaml"]
    for line in (
        '  repository: "registry.example/churn"',
        '  tag: "v1"',
        f'  digest: "{DIGEST}"',
        "containerPort: 9090",
        "gracefulTimeoutSeconds: 20",
        "replicaCount: 3",
        '    cpu: "1"',
    ):
        assert f"\n{line}\n" in values, line
    assert "churn-api/templates/deployment.yaml" in files


def test_the_image_reference_is_an_input(rule_runner):
    first = chart_of(rule_runner, "churn_api", ImageReference("registry.example/churn", "v1"))
    other = chart_of(rule_runner, "churn_api", ImageReference("registry.example/churn", "v2"))
    assert other.filename == first.filename and other.digest != first.digest


def test_bad_fields_are_reported_with_the_address(rule_runner):
    image = ImageReference("registry.example/churn", "v1")
    _, message = engine_failure(lambda: chart_of(rule_runner, "bad_bounds", image))
    assert message == (
        "apizr: src/models:bad_bounds: `min_replicas` (4) is greater than `max_replicas` (2)"
    )
