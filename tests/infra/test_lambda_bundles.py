"""Every Lambda bundle, built exactly as ``cdk deploy`` builds it, runs its handler in isolation.

Each bundle is imported by ``python -I -S`` with only the bundle on ``sys.path`` and the function's
environment as synthesized (references replaced by the local pond's names), then invoked with the
events AWS would send, against the embedded AWS, the bundled target and a real Prometheus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import boto3
import pytest

from koipond import envvars
from koipond.settings import Settings
from local_pond.aws_guard import AwsKeyPair
from local_pond.lambda_http import build_event
from local_pond.pond import LocalPond, PondConfig
from local_pond.token_worker import lambda_sqs_record
from tests.infra.lambda_bundles import (
    CACHE,
    NEVER_IN_A_LAMBDA,
    UNZIPPED_LIMIT_BYTES,
    BundledFunction,
    IsolatedHandler,
    bundled_functions,
    cdk_json_context,
    isolated_handler,
    resolve_environment,
    synthesize_with_bundling,
    unzipped_size,
)

pytestmark = pytest.mark.e2e

KEEPER = "lambdas.keeper_api.handler.lambda_handler"
GUARD = "lambdas.shutdown_guard.handler.lambda_handler"
WORKER = "lambdas.token_worker.handler.lambda_handler"
RENEWER = "lambdas.token_worker.handler.schedule_handler"
TICK = "lambdas.release_tick.handler.lambda_handler"
ALLOCATOR = "lambdas.allocator.handler.lambda_handler"
EXERCISED = {KEEPER, GUARD, WORKER, RENEWER, TICK, ALLOCATOR}
# Synthesized as `-c koipond:prometheusUrl=...` would; the pond's Prometheus stands in for it.
PROMETHEUS_PLACEHOLDER = "https://prometheus.example.invalid"
# Likewise `-c koipond:tokenMintOrigins=...`; the pond's bundled target stands in for the service that mints.
MINT_ORIGIN_PLACEHOLDER = "https://mint.example.invalid"
SECRETS = {
    envvars.ADMIN_TOKEN_SECRET: "koipond/admin-token",
    envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET: "koipond/token-mint-admin-token",
    envvars.NOTIFICATION_SECRET: "koipond/notification-routes",
}
REGION = "us-east-1"


@pytest.fixture(scope="module")
def bundles() -> dict[str, BundledFunction]:
    outdir = CACHE / "cdk.out"
    context = {"koipond:prometheusUrl": PROMETHEUS_PLACEHOLDER, "koipond:tokenMintOrigins": MINT_ORIGIN_PLACEHOLDER}
    synthesize_with_bundling(outdir, cdk_json_context(**context))
    return {function.handler: function for function in bundled_functions(outdir)}


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("bundle-pond"),
        with_target=True,
        with_prometheus=True,
        scrape_seconds=1.0,
        # The bundles and this test's own clients sign with the suite's pair (tests/conftest.py).
        aws_key_pair=AwsKeyPair("testing", "testing"),
    )
    with LocalPond(config) as running:
        secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=running.aws_url)
        values = {
            envvars.ADMIN_TOKEN_SECRET: config.admin_token,
            envvars.TOKEN_MINT_ADMIN_TOKEN_SECRET: config.target_admin_token,
            envvars.NOTIFICATION_SECRET: json.dumps({"routes": [], "console_url": f"{running.keeper_url}/ui/"}),
        }
        for variable, name in SECRETS.items():
            secrets.create_secret(Name=name, SecretString=values[variable])
        yield running


def _local_values(pond: LocalPond) -> dict[str, str]:
    """What each of the template's references stands for in the local pond."""
    names = Settings()
    return {
        envvars.AWS_REGION: REGION,
        envvars.TABLE_NAME: names.table_name,
        envvars.TOKEN_BUCKET: names.token_bucket,
        envvars.TOKEN_QUEUE_NAME: names.token_queue_name,
        envvars.TOKEN_DLQ_NAME: names.token_dlq_name,
        envvars.PROMETHEUS_URL: pond.prometheus_url,
        envvars.TOKEN_MINT_ORIGINS: pond.target_url,
        **SECRETS,
    }


def _lambda_env(function: BundledFunction, pond: LocalPond) -> dict[str, str]:
    """The whole environment of the function's process: what Lambda sets, the template's, the embedded AWS."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "LAMBDA_TASK_ROOT": str(function.asset),
        "TZ": ":UTC",
        **resolve_environment(function, _local_values(pond)),
        envvars.AWS_ENDPOINT: pond.aws_url,  # the only difference from AWS: where AWS is
    }


def _run(bundles: dict[str, BundledFunction], handler: str, pond: LocalPond) -> AbstractContextManager[IsolatedHandler]:
    function = bundles[handler]
    log = pond.logs / f"bundle-{function.logical_id}.log"
    return isolated_handler(function, _lambda_env(function, pond), log)


def _assert_only_bundle_and_stdlib(runtime: IsolatedHandler) -> None:
    origins = runtime.module_origins()
    assert origins["elsewhere"] == []
    assert {"boto3", "pydantic", "aws_lambda_powertools", "koipond"} <= set(origins["bundle"])
    loaded = set(origins["bundle"])
    assert not [name for name in NEVER_IN_A_LAMBDA if name in loaded]


def _http(keeper: IsolatedHandler, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    """One API Gateway HTTP API v2 request through the Keeper's handler."""
    headers = {"content-type": "application/json", "host": "keeper.bundle.test"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    payload = b"" if body is None else json.dumps(body).encode()
    answer = keeper.invoke(build_event(method, path, headers, payload, "127.0.0.1"))
    text = answer.get("body") or ""
    return answer["statusCode"], json.loads(text) if text else None


def _scheduled_event(rule: str) -> dict[str, Any]:
    """What an EventBridge schedule sends its target."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-04T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{rule}"],
        "detail": {},
    }


def test_every_python_function_of_the_stack_is_invoked_by_this_suite(bundles: dict[str, BundledFunction]) -> None:
    assert set(bundles) == EXERCISED
    assert {function.runtime for function in bundles.values()} == {"python3.11"}


def test_every_bundle_fits_lambdas_unzipped_limit(
    bundles: dict[str, BundledFunction], capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = {handler: unzipped_size(function.asset) for handler, function in bundles.items()}
    with capsys.disabled():
        print("\nLambda bundles (unzipped; limit 250 MiB):")
        for handler, size in sorted(sizes.items()):
            print(f"  {size / 2**20:7.1f} MiB  {handler}")
    assert all(0 < size < UNZIPPED_LIMIT_BYTES for size in sizes.values()), sizes


def test_bundles_carry_lambda_platform_wheels_and_no_cli_only_package(bundles: dict[str, BundledFunction]) -> None:
    for function in bundles.values():
        top_level = {path.name for path in function.asset.iterdir()}
        assert {"koipond", "lambdas", "boto3", "pydantic_core"} <= top_level
        assert not top_level & set(NEVER_IN_A_LAMBDA)
        assert not list(function.asset.rglob("*.pyc")), "bytecode in the bundle: built or run with writes"
        (core,) = (function.asset / "pydantic_core").glob("_pydantic_core.*.so")
        assert core.name.endswith("cpython-311-x86_64-linux-gnu.so")


def test_keeper_bundle_answers_health_keys_tests_and_a_school_poll(
    bundles: dict[str, BundledFunction], pond: LocalPond
) -> None:
    admin = pond.config.admin_token  # the bundle reads it from its secret, not from the environment
    with _run(bundles, KEEPER, pond) as keeper:
        status, health = _http(keeper, "GET", "/healthz", None)
        assert (status, health["status"]) == (200, "ok")
        status, _ = _http(keeper, "GET", "/v1/tests", None)
        assert status == 401
        status, viewer = _http(keeper, "POST", "/v1/keys", admin, {"name": "bundle viewer", "role": "viewer"})
        assert status == 201, viewer
        key = {"name": "bundle school", "role": "school", "school_id": "bundle-school"}
        status, school = _http(keeper, "POST", "/v1/keys", admin, key)
        assert status == 201, school
        spec = {"name": "bundle", "target": pond.target_url, "behavior": "average_user", "workspace": "b", "koi": 300}
        status, test = _http(keeper, "POST", "/v1/tests", admin, spec)
        assert status == 201, test
        status, listed = _http(keeper, "GET", "/v1/tests", viewer["token"])
        assert status == 200
        assert test["id"] in json.dumps(listed)
        # The first poll is the School's heartbeat; the pond's allocator then hands it the koi within a pass or two.
        answer = _poll_until_assigned(keeper, "bundle-school", school["token"], test["id"])
        assert answer["stop_all"] is False
        (assignment,) = [a for a in answer["assignments"] if a["test_id"] == test["id"]]
        assert assignment["koi"] == 300
        assert _http(keeper, "POST", f"/v1/tests/{test['id']}/stop", admin, {"reason": "bundle checked"})[0] == 200
        # Leave no capacity behind for the other tests of this pond.
        assert _http(keeper, "POST", "/v1/schools/bundle-school/poll", school["token"], {"capacity": 0})[0] == 200
        _assert_only_bundle_and_stdlib(keeper)


def _poll_until_assigned(keeper: IsolatedHandler, school_id: str, token: str, test_id: str) -> Any:
    """Poll as ``school_id`` (capacity 1,000) until the answer assigns it koi of ``test_id``, for up to 15 s."""
    deadline = time.monotonic() + 15
    while True:
        status, answer = _http(keeper, "POST", f"/v1/schools/{school_id}/poll", token, {"capacity": 1000})
        assert status == 200, answer
        if any(a["test_id"] == test_id for a in answer["assignments"]) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_guard_bundle_evaluates_a_query_against_prometheus(
    bundles: dict[str, BundledFunction], pond: LocalPond
) -> None:
    probe = {
        "label": "bundle-probe",
        "query": "vector(1)",
        "cluster": "pond",
        "time_range": "1m",
        "step": "15s",
        "threshold": 0.5,
        "comparator": "LessThan",
        "on_no_data": "ignore",
        "on_error": {"action": "stop", "consecutive": 3},
        "scope": {"all_tests": True},
        "action": {"kind": "stop"},
    }
    with pond.client() as admin:
        admin.request("PUT", "/v1/guard/queries/bundle-probe", json=probe)
    try:
        with _run(bundles, GUARD, pond) as guard:
            evaluations = guard.invoke(_scheduled_event("koipond-guard"))["evaluations"]
            _assert_only_bundle_and_stdlib(guard)
    finally:
        with pond.client() as admin:
            admin.request("DELETE", "/v1/guard/queries/bundle-probe")
    (evaluation,) = [e for e in evaluations if e["label"] == "bundle-probe"]
    assert (evaluation["outcome"], evaluation["value"], evaluation["acted"]) == ("healthy", 1.0, False)
    assert not [e for e in evaluations if e["outcome"] == "error"], evaluations


def test_token_worker_bundle_mints_a_batch_into_a_kms_encrypted_shard(
    bundles: dict[str, BundledFunction], pond: LocalPond
) -> None:
    names = Settings()
    with pond.client() as admin:
        job = admin.create_token_job("bundle", pond.target_url, 0, 5)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=pond.aws_url)
    queue_url = sqs.get_queue_url(QueueName=names.token_queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with _run(bundles, WORKER, pond) as worker:
        # The Keeper queued the job's plan step; the worker queues the batch, then mints it.
        for _ in ("plan step", "batch"):
            (message,) = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"], WaitTimeSeconds=5)["Messages"]
            answer = worker.invoke({"Records": [lambda_sqs_record(message, queue_arn, REGION)]})
            assert answer == {"batchItemFailures": []}
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        _assert_only_bundle_and_stdlib(worker)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=pond.aws_url)
    (shard,) = s3.list_objects_v2(Bucket=names.token_bucket, Prefix="tokens/bundle/")["Contents"]
    head = s3.head_object(Bucket=names.token_bucket, Key=shard["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    with pond.client() as admin:
        assert admin.token_job(job.id).status == "done"


def test_token_renewal_bundle_runs_on_its_schedule(bundles: dict[str, BundledFunction], pond: LocalPond) -> None:
    with _run(bundles, RENEWER, pond) as renewer:
        answer = renewer.invoke({**_scheduled_event("koipond-token-renewal"), "horizon_seconds": 60})
        _assert_only_bundle_and_stdlib(renewer)
    assert answer == {"renewed": [], "horizon_seconds": 60.0}


def test_release_tick_bundle_runs_every_step_without_error(
    bundles: dict[str, BundledFunction], pond: LocalPond
) -> None:
    with _run(bundles, TICK, pond) as tick:
        steps = tick.invoke(_scheduled_event("koipond-release-tick"))["steps"]
        _assert_only_bundle_and_stdlib(tick)
    assert steps
    assert {name: step for name, step in steps.items() if "error" in step} == {}


def test_allocator_bundle_takes_the_lease_and_hands_a_polling_school_its_koi(
    bundles: dict[str, BundledFunction], pond: LocalPond
) -> None:
    admin, school, koi = pond.config.admin_token, "bundle-alloc-school", 300
    # The pond's Keeper runs an allocator too; stopped, it lets the lease go and the bundle is the only allocator.
    pond.keeper.stop()
    try:
        with _run(bundles, KEEPER, pond) as keeper, _run(bundles, ALLOCATOR, pond) as allocator:
            body = {"name": "bundle allocator", "role": "school", "school_id": school}
            status, key = _http(keeper, "POST", "/v1/keys", admin, body)
            assert status == 201, key
            poll = f"/v1/schools/{school}/poll"
            assert _http(keeper, "POST", poll, key["token"], {"capacity": 1000})[0] == 200  # its heartbeat
            spec = {"name": "alloc", "target": pond.target_url, "behavior": "average_user", "workspace": "a"}
            status, test = _http(keeper, "POST", "/v1/tests", admin, {**spec, "koi": koi})
            assert status == 201, test
            # 12 s left: the run loops 7 s, longer than the lease (5 s) a killed holder would leave behind.
            report = allocator.invoke(_scheduled_event("koipond-allocator"), remaining_seconds=12)
            _assert_only_bundle_and_stdlib(allocator)
            status, answer = _http(keeper, "POST", poll, key["token"], {"capacity": 1000})
            assert status == 200, answer
            _http(keeper, "POST", f"/v1/tests/{test['id']}/stop", admin, {"reason": "bundle checked"})
            # Leave no capacity behind for the other tests of this pond.
            _http(keeper, "POST", poll, key["token"], {"capacity": 0})
    finally:
        pond.keeper.start(timeout=60)
    assert report["loop_seconds"] == pytest.approx(7, abs=0.1)
    assert report["passes"] >= 2
    assert report["held_passes"] >= 1
    assert report["fence"] >= 1
    assert report["written"] >= 1
    assert report["moved_koi"] == koi  # every koi of the new test, handed out by this run
    assert [a["koi"] for a in answer["assignments"] if a["test_id"] == test["id"]] == [koi]
