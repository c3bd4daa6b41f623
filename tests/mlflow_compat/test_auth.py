"""The real mlflow client against a treadle server with auth on, in a workspace (``/w/team-a``).

The client signs in the ways it knows (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``: Basic;
``MLFLOW_TRACKING_TOKEN``: Bearer), what it writes lands in the workspace's own store (checked
through treadle's SDK) and nowhere else, and the refusals reach it as the MlflowExceptions it knows
(UNAUTHENTICATED, PERMISSION_DENIED) without it retrying them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

import treadle as td
from tests.mlflow_compat.conftest import MlflowServer, RunMlflow
from treadle.errors import NotFound

WORKSPACE = "team-a"
ALICE_PASSWORD = "alice-password-1"
BOB_PASSWORD = "bob-password-1"
DAVE_PASSWORD = "dave-password-1"


class Recorder:
    """An ASGI wrapper that notes every HTTP request the server answers: (method, path, status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, noting)

    def calls(self, fragment: str) -> list[tuple[str, str, int]]:
        return [seen for seen in self.seen if fragment in seen[1]]


@dataclass(frozen=True)
class AuthServer:
    server: MlflowServer
    recorder: Recorder
    tokens: dict[str, str]  # user -> API token secret

    @property
    def team_a(self) -> str:
        return f"{self.server.url}/w/{WORKSPACE}"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A server with auth on: alice (password) and carol (token) edit team-a, vic views it, bob edits team-b."""
    from treadle.server import create_app
    from treadle.testing.server import serve

    root = tmp_path_factory.mktemp("mlflow-auth")
    uri, artifacts = f"sqlite:///{root / 'treadle.db'}", str(root / "artifacts")
    app = create_app(uri, artifacts, auth=True)
    access = app.state.hub.access  # this process holds the database: a local admin
    access.create_workspace(WORKSPACE)
    access.create_workspace("team-b")
    access.create_user("alice", password=ALICE_PASSWORD)
    access.create_user("carol")
    access.create_user("vic")
    access.create_user("bob", password=BOB_PASSWORD)
    access.create_user("dave", password=DAVE_PASSWORD)
    access.set_member(WORKSPACE, "alice", "editor")
    access.set_member(WORKSPACE, "carol", "editor")
    access.set_member(WORKSPACE, "vic", "viewer")
    access.set_member("team-b", "bob", "editor")
    access.set_member(WORKSPACE, "dave", "editor")
    tokens = {user: access.create_token("mlflow", user=user).secret for user in ("carol", "vic", "bob")}
    recorder = Recorder(app)
    with serve(recorder) as url:
        yield AuthServer(MlflowServer(url=url, uri=uri, artifacts=artifacts, root=root), recorder, tokens)


@pytest.fixture
def mlflow_server(auth_server: AuthServer) -> MlflowServer:
    """The conftest's ``run_mlflow`` runs against the server with auth on (this module's override)."""
    return auth_server.server


def _result(stdout: str) -> dict[str, Any]:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    out: dict[str, Any] = json.loads(line[len("RESULT") :])
    return out


def _team(server: AuthServer) -> td.Client:
    return td.Client(server.server.uri, server.server.artifacts, workspace=WORKSPACE)


def _default(server: AuthServer) -> td.Client:
    return td.Client(server.server.uri, server.server.artifacts)


# ------------------------------------------------------------------------------ signed in, editing
FULL_FLOW = r"""
import json, warnings
warnings.filterwarnings("ignore")
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
y = np.array([0, 1, 0, 1])
exp = mlflow.set_experiment("auth-flow")
with mlflow.start_run(run_name="signed-in") as run:
    mlflow.log_param("C", 1.0)
    mlflow.log_metric("acc", 0.75)
    mlflow.log_param("solver", "lbfgs", synchronous=False).wait()
    mlflow.log_metric("async_loss", 0.5, step=3, synchronous=False).wait()
    with open("notes.txt", "w") as f:
        f.write("hello team-a")
    mlflow.log_artifact("notes.txt")
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "auth-clf")
client = MlflowClient()
client.set_registered_model_alias("auth-clf", "champion", version.version)
model = mlflow.pyfunc.load_model("models:/auth-clf@champion")
print("RESULT" + json.dumps({
    "experiment_id": exp.experiment_id,
    "run_id": run.info.run_id,
    "version": version.version,
    "alias": client.get_model_version_by_alias("auth-clf", "champion").version,
    "artifacts": sorted(a.path for a in client.list_artifacts(run.info.run_id)),
    "predict": [int(p) for p in model.predict(X)],
}))
"""


@pytest.mark.slow
def test_password_user_logs_registers_and_loads_in_their_workspace(
    run_mlflow: RunMlflow, auth_server: AuthServer
) -> None:
    out = _result(
        run_mlflow(
            FULL_FLOW,
            timeout=600,
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                "MLFLOW_TRACKING_USERNAME": "alice",
                "MLFLOW_TRACKING_PASSWORD": ALICE_PASSWORD,
                "MLFLOW_ENABLE_ASYNC_LOGGING": "true",
            },
        )
    )
    assert out["version"] == "1" and out["alias"] == "1"
    assert "notes.txt" in out["artifacts"] and "model" in out["artifacts"]
    assert out["predict"] == [0, 1, 0, 1]

    # Everything landed in team-a's store ...
    team = _team(auth_server)
    assert team.workspace == WORKSPACE
    exp = team.tracking.get_experiment_by_name("auth-flow")
    assert exp.id == out["experiment_id"]
    run = team.tracking.get_run(out["run_id"])
    assert run.name == "signed-in" and run.status == "FINISHED"
    assert run.params == {"C": "1.0", "solver": "lbfgs"}
    assert run.metrics["acc"] == 0.75 and run.metrics["async_loss"] == 0.5
    assert team.tracking.get_metric_history(out["run_id"], "async_loss").steps == [3]
    files = {f.path: f.size for f in team.tracking.list_artifacts(out["run_id"])}
    assert files["notes.txt"] == len("hello team-a") and "model/MLmodel" in files
    model = team.registry.get_model("auth-clf")
    assert model.aliases == {"champion": 1} and model.latest_version == 1
    assert team.registry.get_version("auth-clf", 1).run_id == out["run_id"]

    # ... and nothing in the default workspace.
    default = _default(auth_server)
    assert "auth-flow" not in {e.name for e in default.tracking.list_experiments()}
    with pytest.raises(NotFound):
        default.tracking.get_run(out["run_id"])
    with pytest.raises(NotFound):
        default.registry.get_model("auth-clf")

    # The server heard alice, in team-a, and audited her writes there.
    audit = _default(auth_server).access.list_audit(workspace=WORKSPACE, user="alice", limit=1000)
    operations = {entry.operation for entry in audit}
    assert "mlflow:runs/create" in operations and "mlflow:registered-models/alias" in operations
    assert all(entry.status < 400 for entry in audit), [(e.operation, e.status) for e in audit if e.status >= 400]


MINIMAL_FLOW = r"""
import json
import mlflow
from mlflow import MlflowClient
exp = mlflow.set_experiment("token-flow")
with mlflow.start_run() as run:
    mlflow.log_param("k", "v")
    mlflow.log_metric("m", 1.5)
    mlflow.log_metric("async_m", 2.5, synchronous=False).wait()
    with open("t.txt", "w") as f:
        f.write("token")
    mlflow.log_artifact("t.txt")
seen = mlflow.search_runs(experiment_names=["token-flow"])
print("RESULT" + json.dumps({
    "run_id": run.info.run_id,
    "found": seen["run_id"].tolist(),
    "artifacts": [a.path for a in MlflowClient().list_artifacts(run.info.run_id)],
}))
"""


def test_token_user_logs_to_their_workspace(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    out = _result(
        run_mlflow(
            MINIMAL_FLOW,
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                "MLFLOW_TRACKING_TOKEN": auth_server.tokens["carol"],
                "MLFLOW_ENABLE_ASYNC_LOGGING": "true",
            },
        )
    )
    assert out["found"] == [out["run_id"]] and out["artifacts"] == ["t.txt"]
    run = _team(auth_server).tracking.get_run(out["run_id"])
    assert run.params == {"k": "v"} and run.metrics == {"m": 1.5, "async_m": 2.5}
    assert [f.path for f in _team(auth_server).tracking.list_artifacts(out["run_id"])] == ["t.txt"]
    with pytest.raises(NotFound):
        _default(auth_server).tracking.get_run(out["run_id"])
    audit = _default(auth_server).access.list_audit(workspace=WORKSPACE, user="carol", limit=1000)
    operations = {entry.operation for entry in audit}
    assert "mlflow:runs/log-batch" in operations  # log_metric and log_param, sent as batches
    assert any(op.startswith("mlflow-artifacts:artifacts/") and op.endswith("/t.txt") for op in operations), operations


def test_mlflow_workspace_variable_picks_the_treadle_workspace(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    # mlflow's own MLFLOW_WORKSPACE (sent as X-MLflow-Workspace) instead of a /w/NAME tracking URI
    out = _result(
        run_mlflow(
            MINIMAL_FLOW,
            env={
                "MLFLOW_TRACKING_URI": auth_server.server.url,
                "MLFLOW_WORKSPACE": WORKSPACE,
                "MLFLOW_TRACKING_TOKEN": auth_server.tokens["carol"],
            },
        )
    )
    assert _team(auth_server).tracking.get_run(out["run_id"]).params == {"k": "v"}
    with pytest.raises(NotFound):
        _default(auth_server).tracking.get_run(out["run_id"])


# ------------------------------------------------------------------------------------- refusals
REFUSED = r"""
import json
import mlflow
from mlflow.exceptions import MlflowException
out = {}
def attempt(name, call):
    try:
        call()
        out[name] = "ok"
    except MlflowException as e:
        out[name] = {"error_code": e.error_code, "status": e.get_http_status_code(), "message": str(e)}
attempt("set_experiment", lambda: mlflow.set_experiment("%(experiment)s"))
attempt("search_runs", lambda: mlflow.search_runs(search_all_experiments=True))
def start():
    with mlflow.start_run(experiment_id="%(experiment_id)s"):
        pass
attempt("start_run", start)
print("RESULT" + json.dumps(out))
"""


def _refused(experiment: str = "refused", experiment_id: str = "0") -> str:
    return REFUSED % {"experiment": experiment, "experiment_id": experiment_id}


def test_no_credentials_fail_fast_with_unauthenticated(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    before = len(auth_server.recorder.calls("/experiments/get-by-name"))
    out = _result(
        run_mlflow(
            _refused(),
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                # retries on (the client's default is 7; with no backoff a retry would show, not stall)
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
            },
        )
    )
    for step in ("set_experiment", "search_runs", "start_run"):
        refusal = out[step]
        assert refusal != "ok", step
        assert refusal["error_code"] == "UNAUTHENTICATED" and refusal["status"] == 401, (step, refusal)
        assert "sign in" in refusal["message"], refusal
    # the 401 was not retried: one request per attempt
    calls = auth_server.recorder.calls("/experiments/get-by-name")[before:]
    assert [status for _, _, status in calls] == [401]
    # a wrong password is refused the same way
    out = _result(
        run_mlflow(
            _refused(),
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                "MLFLOW_TRACKING_USERNAME": "alice",
                "MLFLOW_TRACKING_PASSWORD": "not-her-password",
            },
        )
    )
    assert out["set_experiment"]["error_code"] == "UNAUTHENTICATED", out
    assert "wrong user name or password" in out["set_experiment"]["message"]
    # a revoked-or-unknown token too
    out = _result(
        run_mlflow(_refused(), env={"MLFLOW_TRACKING_URI": auth_server.team_a, "MLFLOW_TRACKING_TOKEN": "tdl_nope"})
    )
    assert out["search_runs"]["error_code"] == "UNAUTHENTICATED" and out["search_runs"]["status"] == 401


def test_viewer_reads_but_cannot_write(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    team = _team(auth_server)
    exp_id = team.tracking.create_experiment("viewer-visible").id
    seeded = team.tracking.create_run(exp_id, name="seeded")
    before = len(auth_server.recorder.calls("/runs/create"))
    out = _result(
        run_mlflow(
            _refused(experiment="viewer-visible", experiment_id=str(exp_id)),
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                "MLFLOW_TRACKING_TOKEN": auth_server.tokens["vic"],
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            },
        )
    )
    assert out["set_experiment"] == "ok"  # an existing experiment: a read
    assert out["search_runs"] == "ok"
    refusal = out["start_run"]
    assert refusal != "ok" and refusal["error_code"] == "PERMISSION_DENIED" and refusal["status"] == 403, refusal
    assert "editor" in refusal["message"] and "vic" in refusal["message"]
    assert [status for _, _, status in auth_server.recorder.calls("/runs/create")[before:]] == [403]
    assert [r.id for r in team.tracking.search_runs(experiment_ids=[exp_id])] == [seeded.id]


SEARCH = r"""
import json, mlflow
df = mlflow.search_runs(search_all_experiments=True)
print("RESULT" + json.dumps({"runs": df["run_id"].tolist()}))
"""


def test_viewer_search_sees_the_workspace_runs(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    team = _team(auth_server)
    seeded = team.tracking.create_run(team.tracking.create_experiment("viewer-search").id, name="seeded")
    default = _default(auth_server)
    elsewhere = default.tracking.create_run(default.tracking.create_experiment("default-only").id, name="elsewhere")
    out = _result(
        run_mlflow(
            SEARCH, env={"MLFLOW_TRACKING_URI": auth_server.team_a, "MLFLOW_TRACKING_TOKEN": auth_server.tokens["vic"]}
        )
    )
    assert seeded.id in out["runs"] and elsewhere.id not in out["runs"]


def test_other_workspace_member_is_denied(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    for env in (
        {"MLFLOW_TRACKING_USERNAME": "bob", "MLFLOW_TRACKING_PASSWORD": BOB_PASSWORD},
        {"MLFLOW_TRACKING_TOKEN": auth_server.tokens["bob"]},
    ):
        out = _result(run_mlflow(_refused(), env={"MLFLOW_TRACKING_URI": auth_server.team_a, **env}))
        for step in ("set_experiment", "search_runs", "start_run"):
            refusal = out[step]
            assert refusal != "ok", (step, env.keys())
            assert refusal["error_code"] == "PERMISSION_DENIED" and refusal["status"] == 403, (step, refusal)
            assert "no role in workspace 'team-a'" in refusal["message"], refusal
    # bob's own workspace works with the same credentials
    out = _result(
        run_mlflow(
            SEARCH,
            env={
                "MLFLOW_TRACKING_URI": f"{auth_server.server.url}/w/team-b",
                "MLFLOW_TRACKING_TOKEN": auth_server.tokens["bob"],
            },
        )
    )
    assert out["runs"] == []
    with pytest.raises(NotFound):
        _team(auth_server).tracking.get_experiment_by_name("refused")


def test_locked_out_sign_in_fails_fast(run_mlflow: RunMlflow, auth_server: AuthServer) -> None:
    """After too many wrong passwords the client is told to wait, and is not left retrying for it."""
    probe = f"{auth_server.team_a}/api/2.0/mlflow/experiments/get-by-name"
    for _ in range(5):  # the limiter's budget per user name
        wrong = httpx.get(probe, params={"experiment_name": "x"}, auth=("dave", "guess"), timeout=30)
        assert wrong.status_code == 401 and wrong.json()["error_code"] == "UNAUTHENTICATED"
    locked = httpx.get(probe, params={"experiment_name": "x"}, auth=("dave", DAVE_PASSWORD), timeout=30)
    assert locked.status_code == 401 and int(locked.headers["retry-after"]) > 0
    before = len(auth_server.recorder.calls("/experiments/get-by-name"))
    out = _result(
        run_mlflow(
            _refused(),
            timeout=120,  # retrying on the Retry-After (~300 s) would run past this
            env={
                "MLFLOW_TRACKING_URI": auth_server.team_a,
                "MLFLOW_TRACKING_USERNAME": "dave",
                "MLFLOW_TRACKING_PASSWORD": DAVE_PASSWORD,
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            },
        )
    )
    refusal = out["set_experiment"]
    assert refusal["error_code"] == "UNAUTHENTICATED" and "too many failed sign-ins" in refusal["message"], refusal
    assert [status for _, _, status in auth_server.recorder.calls("/experiments/get-by-name")[before:]] == [401]
    # a token still works for the locked-out user (the lockout guards passwords)
    token = _default(auth_server).access.create_token("after-lockout", user="dave").secret
    out = _result(run_mlflow(SEARCH, env={"MLFLOW_TRACKING_URI": auth_server.team_a, "MLFLOW_TRACKING_TOKEN": token}))
    assert isinstance(out["runs"], list)
