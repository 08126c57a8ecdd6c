"""Offline checks of the deployment manifests in examples/deploy/.

Every Kubernetes object is validated with kubernetes-validate in strict mode (unknown
fields are errors) against the oldest and the newest Kubernetes version we support.
KServe and Prometheus Operator objects have no schema there and get structural
assertions instead. Then the invariants that span files: probes on the right endpoints
and port, the shutdown arithmetic, the rollout strategy, the restricted security
context, the HPA metric produced by the prometheus-adapter rule, and environment names
exactly as mlinfer-server reads them.

Needs the PyPI package kubernetes-validate (it brings PyYAML); skipped without it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "examples" / "deploy"
K8S = DEPLOY / "k8s"
KSERVE = DEPLOY / "kserve"

# Oldest: PodDisruptionBudget.unhealthyPodEvictionPolicy exists from 1.26 (beta 1.27).
K8S_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]

# The server's environment: as pinned in DESIGN.md ("Server (pinned)"), plus the settings it
# adds (programs/server/README.md).
SERVER_ENV = {"MODEL_PATH", "PORT", "LOG_LEVEL", "MLI_THREADS", "MLI_HTTP_THREADS", "MLI_PREDICT_THREADS",
              "MLI_API_KEY", "MLI_API_KEY_FILE",
              "MLI_MAX_BODY_BYTES", "MLI_MAX_BATCH", "MLI_BATCH_DELAY_US", "MLI_DRAIN_SECONDS",
              "MLI_CONNECTION_TIMEOUT_S"}
# Seconds left between the end of the drain and kubelet's SIGKILL, at least.
GRACE_MARGIN_S = 10

NON_CORE_API_GROUPS = ("serving.kserve.io/", "monitoring.coreos.com/", "kustomize.config.k8s.io/")


def _load(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _all_files() -> list[Path]:
    return sorted(list(K8S.glob("*.yaml")) + list(K8S.glob("monitoring/*.yaml")) + list(KSERVE.glob("*.yaml")))


def _docs() -> list[tuple[Path, dict]]:
    return [(p, d) for p in _all_files() for d in _load(p)]


def _core_docs() -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in _docs() if not d["apiVersion"].startswith(NON_CORE_API_GROUPS)]


def _one(kind: str, directory: Path = K8S) -> dict:
    found = [d for p, d in _docs() if d["kind"] == kind and p.parent == directory]
    assert len(found) == 1, f"expected one {kind} in {directory}, found {len(found)}"
    return found[0]


def _id(item) -> str:
    p, d = item
    return f"{p.relative_to(DEPLOY)}:{d['kind']}"


@pytest.fixture(scope="module")
def deployment() -> dict:
    return _one("Deployment")


@pytest.fixture(scope="module")
def container(deployment) -> dict:
    cs = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["mlinfer-server"]
    return cs[0]


@pytest.fixture(scope="module")
def config() -> dict:
    return _one("ConfigMap")["data"]


def _port_number(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"port {port!r} is not a named port of container {container['name']}"
    return named[port]


def _prestop_sleep_seconds(container: dict) -> float:
    pre = container["lifecycle"]["preStop"]
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = pre["exec"]["command"]
    assert Path(cmd[0]).name == "sleep" and len(cmd) == 2, f"preStop should be a plain sleep, got {cmd}"
    return float(cmd[1])


# ---- schema validation ---------------------------------------------------------------

def test_every_file_parses_and_has_objects():
    files = _all_files()
    assert len(files) >= 12
    for p in files:
        docs = _load(p)
        assert docs, f"{p} holds no object"
        for d in docs:
            assert {"apiVersion", "kind"} <= d.keys(), p
            if d["kind"] != "Kustomization":
                assert d.get("metadata", {}).get("name"), f"{p}: {d['kind']} without metadata.name"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("item", _core_docs(), ids=_id)
def test_strict_schema(item, version):
    path, doc = item
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{path.relative_to(REPO)} ({doc['kind']}) invalid for Kubernetes {version}: "
                    f"{'.'.join(str(x) for x in e.path)}: {e.message}")


def test_core_objects_are_all_known_to_the_validator():
    # A typo in apiVersion/kind must not turn into "no schema, not checked".
    for path, doc in _core_docs():
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


# ---- kustomization -------------------------------------------------------------------

def test_kustomization_lists_every_manifest():
    k = _load(K8S / "kustomization.yaml")[0]
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    listed = set(k["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"kustomization resources {sorted(listed)} != files {sorted(present)}"
    assert k["namespace"] == "mlinfer"
    for p in present:
        for d in _load(K8S / p):
            ns = d["metadata"].get("namespace")
            assert d["kind"] == "Namespace" or ns == "mlinfer", f"{p}: namespace {ns!r}"


def test_kustomization_images_match_containers(deployment):
    k = _load(K8S / "kustomization.yaml")[0]
    names = {i["name"] for i in k["images"]}
    spec = deployment["spec"]["template"]["spec"]
    used = {c["image"].split(":")[0] for c in spec["containers"] + spec.get("initContainers", [])}
    assert used == names


# ---- probes, ports, rollout ----------------------------------------------------------

def test_probes_hit_health_and_ready_on_the_server_port(container, config):
    port = int(config["PORT"])
    assert _port_number(container, "http") == port == 8000
    expect = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/ready"}
    for probe, path in expect.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{probe} must GET {path}"
        assert _port_number(container, get["port"]) == port, f"{probe} must use the container port"
        assert get.get("scheme", "HTTP") == "HTTP"


def test_startup_probe_covers_slow_loads_and_liveness_waits_for_it(container):
    s = container["startupProbe"]
    assert s["periodSeconds"] * s["failureThreshold"] >= 60
    assert "initialDelaySeconds" not in container["livenessProbe"], "the startupProbe does that job"
    r = container["readinessProbe"]
    assert r["periodSeconds"] * r.get("failureThreshold", 3) <= 10, "readiness must notice a drain quickly"


def test_rolling_update_never_drops_capacity(deployment):
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    ru = spec["strategy"]["rollingUpdate"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert ru["maxUnavailable"] == 0 and ru["maxSurge"] == 1


def test_shutdown_arithmetic(deployment, container, config):
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    sleep = _prestop_sleep_seconds(container)
    drain = float(config["MLI_DRAIN_SECONDS"])
    assert sleep >= 3, "endpoint removal needs a few seconds to reach kube-proxy and ingress controllers"
    assert drain > 0
    assert grace > sleep + drain + GRACE_MARGIN_S, (
        f"terminationGracePeriodSeconds {grace} leaves too little time after preStop {sleep}s + drain {drain}s")


def test_service_ingress_networkpolicy_agree_on_the_port(deployment, container):
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    svc = _one("Service")
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (sport,) = svc["spec"]["ports"]
    assert _port_number(container, sport["targetPort"]) == 8000

    ing = _one("Ingress")
    paths = {p["path"]: p for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    assert {"/predict", "/v1", "/v2"} <= paths.keys()
    assert "/metrics" not in paths, "metrics must not be public"
    for p in paths.values():
        b = p["backend"]["service"]
        assert b["name"] == svc["metadata"]["name"]
        assert b["port"].get("name") == sport["name"] or b["port"].get("number") == sport["port"]

    np = _one("NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert np["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = np["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8000]
    sources = {f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for f in rule["from"]}
    assert sources == {"ingress-nginx", "monitoring"}


def test_ingress_body_cap_matches_server(config):
    ing = _one("Ingress")
    cap = ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    m = re.fullmatch(r"(\d+)([kmg]?)", cap.lower())
    assert m, cap
    nbytes = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2)]
    assert nbytes == int(config["MLI_MAX_BODY_BYTES"])


def test_pdb(deployment):
    pdb = _one("PodDisruptionBudget")
    spec = pdb["spec"]
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert spec.get("maxUnavailable") == 1 or spec.get("minAvailable") is not None
    assert spec["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


# ---- security ------------------------------------------------------------------------

def _restricted(sc: dict, pod_sc: dict, where: str):
    assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
    assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities.drop"
    assert not sc.get("capabilities", {}).get("add"), f"{where}: capabilities.add"
    assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
    assert sc.get("privileged", False) is False
    assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    assert isinstance(uid, int) and uid > 0, f"{where}: runAsUser"
    seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
    assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), f"{where}: seccompProfile"


def test_restricted_security_context(deployment):
    spec = deployment["spec"]["template"]["spec"]
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    for c in spec["containers"] + spec.get("initContainers", []):
        _restricted(c["securityContext"], pod_sc, c["name"])
    assert spec.get("automountServiceAccountToken") is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    ns = _one("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_read_only_root_has_tmp_and_model_volumes(deployment, container, config):
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    model = mounts["/models"]
    assert model["name"] == "model" and model.get("readOnly") is True
    assert config["MODEL_PATH"].startswith("/models/")
    # Whatever fills the model volume runs before the server (an init container).
    writers = [c for c in spec.get("initContainers", [])
               if any(m["name"] == "model" and not m.get("readOnly") for m in c.get("volumeMounts", []))]
    assert writers, "nothing writes the model volume"


def test_resources_guaranteed_and_threads_follow_cpu_limit(container):
    res = container["resources"]
    assert res["requests"]["cpu"] == res["limits"]["cpu"]
    assert res["requests"]["memory"] == res["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["MLI_HTTP_THREADS"]["valueFrom"]["resourceFieldRef"]
    assert ref["resource"] == "limits.cpu" and ref.get("containerName", container["name"]) == container["name"]
    assert str(ref.get("divisor", "1")) == "1"
    assert float(res["limits"]["cpu"]) == int(float(res["limits"]["cpu"])), "whole CPUs: one thread each"


def test_api_key_comes_from_the_secret_file(deployment, container):
    env = {e["name"]: e for e in container["env"]}
    assert "MLI_API_KEY" not in env, "use the file: an env var is inherited and readable in /proc"
    key_path = Path(env["MLI_API_KEY_FILE"]["value"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(key_path.parent)]
    assert mount.get("readOnly") is True
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    sec = volumes[mount["name"]]["secret"]
    # The name and key docs/DEPLOY.md's `kubectl create secret generic` makes.
    assert sec["secretName"] == "mlinfer-api-key"
    assert {i["path"]: i["key"] for i in sec["items"]}[key_path.name] == "api-key"


def test_apply_k_does_not_overwrite_the_secret_created_before_it():
    """docs/DEPLOY.md creates the Secret, then runs `kubectl apply -k`: a Secret in the
    kustomization would replace the key with whatever is committed."""
    k = _load(K8S / "kustomization.yaml")[0]
    kinds = {d["kind"] for r in k["resources"] for d in _load(K8S / r)}
    assert "Secret" not in kinds and not k.get("secretGenerator")


# ---- environment names ---------------------------------------------------------------

def _server_reads_env() -> set[str]:
    """Environment names programs/server actually reads (when its sources are there)."""
    names = set()
    for c in (REPO / "programs" / "server").glob("*.c"):
        names |= set(re.findall(r'getenv\("([A-Z0-9_]+)"\)', c.read_text()))
        names |= set(re.findall(r'env_[a-z_]+\("([A-Z0-9_]+)"', c.read_text()))
    return names


def test_env_names_are_the_pinned_ones(container, config):
    used = set(config) | {e["name"] for e in container["env"]}
    assert used <= SERVER_ENV, f"not mlinfer-server settings: {sorted(used - SERVER_ENV)}"
    assert {"MODEL_PATH", "LOG_LEVEL", "MLI_HTTP_THREADS", "MLI_DRAIN_SECONDS", "MLI_API_KEY_FILE"} <= used
    reads = _server_reads_env()
    if reads:
        assert used <= reads, f"programs/server does not read {sorted(used - reads)}"
    assert config["LOG_LEVEL"].lower() in {"debug", "info", "warn", "warning", "error"}
    for k in ("PORT", "MLI_MAX_BODY_BYTES", "MLI_MAX_BATCH", "MLI_BATCH_DELAY_US"):
        assert k not in config or int(config[k]) >= 0, k
    assert 0 <= float(config["MLI_DRAIN_SECONDS"]) <= 3600


# ---- autoscaling ---------------------------------------------------------------------

def _adapter_rules() -> list[dict]:
    cm = _load(K8S / "monitoring" / "prometheus-adapter-rules.yaml")[0]
    assert cm["kind"] == "ConfigMap"
    return yaml.safe_load(cm["data"]["config.yaml"])["rules"]


def test_hpa_targets_deployment_with_cpu_and_requests_per_second(deployment):
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] == 3
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Resource"]["resource"]["target"]["type"] == "Utilization"
    pods = kinds["Pods"]["pods"]
    assert pods["metric"]["name"] == "mlinfer_requests_per_second"
    assert pods["target"]["type"] == "AverageValue"


def test_adapter_rule_produces_the_hpa_metric():
    hpa_metric = _one("HorizontalPodAutoscaler")["spec"]["metrics"]
    wanted = {m["pods"]["metric"]["name"] for m in hpa_metric if m["type"] == "Pods"}
    produced = set()
    for rule in _adapter_rules():
        series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
        assert series == "mlinfer_requests_total", "the server's request counter"
        produced.add(re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), series))
        assert rule["resources"]["overrides"]["pod"]["resource"] == "pod"
        assert rule["resources"]["overrides"]["namespace"]["resource"] == "namespace"
        q = rule["metricsQuery"]
        assert "rate(<<.Series>>" in q and "<<.LabelMatchers>>" in q and "by (<<.GroupBy>>)" in q
    assert wanted <= produced, f"HPA wants {wanted}, the adapter makes {produced}"


def test_server_exports_the_counter_the_adapter_reads():
    metrics_c = REPO / "programs" / "server" / "metrics.c"
    if not metrics_c.exists():
        pytest.skip("programs/server/metrics.c not present")
    assert '"mlinfer_requests_total' in metrics_c.read_text()


def test_podmonitor_structure():
    pm = _load(K8S / "monitoring" / "podmonitor.yaml")[0]
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and pm["kind"] == "PodMonitor"
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["path"] == "/metrics" and ep["port"] == "http" and ep["honorLabels"] is True
    assert pm["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "mlinfer-server"}


# ---- KServe (no schema in kubernetes-validate: structural checks) -----------------------

def test_kserve_serving_runtime():
    sr = _one("ServingRuntime", KSERVE)
    assert sr["apiVersion"] == "serving.kserve.io/v1alpha1"
    spec = sr["spec"]
    assert set(spec) <= {"annotations", "supportedModelFormats", "protocolVersions", "containers", "multiModel",
                         "disabled", "builtInAdapter", "grpcEndpoint", "grpcDataEndpoint", "volumes", "nodeSelector",
                         "tolerations", "affinity", "labels", "imagePullSecrets"}
    assert [f["name"] for f in spec["supportedModelFormats"]] == ["mlinfer"]
    assert set(spec["protocolVersions"]) == {"v1", "v2"}
    (c,) = spec["containers"]
    assert c["name"] == "kserve-container", "KServe merges the predictor into the container of this name"
    assert c["image"].split(":")[0] == "mlinfer-server"
    env = {e["name"]: e for e in c["env"]}
    assert set(env) <= SERVER_ENV
    assert env["MODEL_PATH"]["value"].startswith("/mnt/models")
    port = int(env["PORT"]["value"])
    assert [p["containerPort"] for p in c["ports"]] == [port]
    assert c["readinessProbe"]["httpGet"]["path"] in ("/ready", "/v2/health/ready")
    assert c["livenessProbe"]["httpGet"]["path"] in ("/health", "/v2/health/live")
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["port"] == port
    _restricted(c["securityContext"], {}, "kserve-container")
    # The container is a plain core/v1 Container: validate it as one inside a Pod.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [c]}}
    kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)


def test_kserve_inference_service():
    isvc = _one("InferenceService", KSERVE)
    sr = _one("ServingRuntime", KSERVE)
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "mlinfer"
    assert model["runtime"] == sr["metadata"]["name"]
    assert model["protocolVersion"] in sr["spec"]["protocolVersions"]
    assert re.match(r"^(gs|s3|pvc|https?|hf|oci)://", model["storageUri"])
    res = model["resources"]
    assert res["requests"]["cpu"] == res["limits"]["cpu"]


def test_the_configmap_leaves_dynamic_batching_off(config):
    """mlinfer-server started with the ConfigMap's environment reports dynamic batching off (it
    cost 7-50 % of the throughput for the shipped model: programs/server/README.md)."""
    import json
    import os
    import socket
    import subprocess

    lib = os.environ.get("MLINFER_LIBRARY")
    server = os.environ.get("MLI_SERVER_BIN") or (
        str(Path(lib).resolve().parent / "programs" / "server" / "mlinfer-server") if lib else "")
    if not os.access(server, os.X_OK):
        pytest.skip("no mlinfer-server (set MLI_SERVER_BIN or MLINFER_LIBRARY)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in config.items() if k != "MODEL_PATH"}  # the demo model stands in
    env.update(PATH=os.environ.get("PATH", "/usr/bin"), PORT=str(port), MLI_DRAIN_SECONDS="0")
    proc = subprocess.Popen([server], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        startup = next(json.loads(line) for line in proc.stdout if '"startup"' in line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert startup["dynamic_batching"] is False, startup
