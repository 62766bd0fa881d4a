"""Names shared by deploy, plan, rollout, status and the emulator: aliases, label keys,
metric types.

One module so a rename cannot leave two spellings behind (the rollout used to define its
own `stable` alias and label prefix beside desired.py's). Pure constants, no imports, so
any layer may depend on it, the emulator included: the metric types it records and checks
alert filters against are the ones the alerts and the rollout gates read.
"""

from __future__ import annotations

STABLE_ALIAS = "stable"
CANDIDATE_ALIAS = "candidate"  # deploy marks a new version with it; promotion removes it
DEFAULT_ALIAS = "default"  # Vertex gives the first version of a model this alias
# The aliases of the version serving the endpoint: `default` moves with `stable`, so a
# first upload that never served does not keep it. The registry moves an added alias off
# its old holder by itself (and refuses to remove `default`).
SERVING_ALIASES = (STABLE_ALIAS, DEFAULT_ALIAS)

# The bundled model servers (containers/<name>): what `vxdeploy init` scaffolds, what
# `vxdeploy model check` loads, what the emulator runs without a manifest search.
BUNDLED_CONTAINERS = ("flask", "torchserve", "tensorrt")

LABEL_PREFIX = "vxdeploy"
ROLLOUT_LABEL_PREFIX = f"{LABEL_PREFIX}-rollout"
FINGERPRINT_LABEL = f"{LABEL_PREFIX}-fingerprint"
CONTAINER_LABEL = f"{LABEL_PREFIX}-container"
RUNTIME_LABEL = f"{LABEL_PREFIX}-runtime"
ENDPOINT_LABEL = f"{LABEL_PREFIX}-endpoint"
ALERT_KIND_LABEL = f"{LABEL_PREFIX}-alert"

# Cloud Monitoring names of Vertex AI: metric types live under the service's domain, and
# an endpoint's online prediction metrics are reported on the Endpoint monitored resource.
VERTEX_METRIC_DOMAIN = "aiplatform.googleapis.com/"
ENDPOINT_RESOURCE_TYPE = f"{VERTEX_METRIC_DOMAIN}Endpoint"
METRIC_PREFIX = f"{VERTEX_METRIC_DOMAIN}prediction/online"
CPU_METRIC = f"{METRIC_PREFIX}/cpu/utilization"
DUTY_CYCLE_METRIC = f"{METRIC_PREFIX}/accelerator/duty_cycle"
REQUESTS_METRIC = f"{METRIC_PREFIX}/request_count"
RESPONSE_METRIC = f"{METRIC_PREFIX}/response_count"
LATENCY_METRIC = f"{METRIC_PREFIX}/prediction_latencies"
PREDICTION_COUNT_METRIC = f"{METRIC_PREFIX}/prediction_count"
ERROR_COUNT_METRIC = f"{METRIC_PREFIX}/error_count"
