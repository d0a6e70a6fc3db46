"""Prometheus metrics of one service process (prometheus-client, its own registry)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reprotune_requests",
            "HTTP requests by path, status and the model version that answered",
            ["path", "status", "model_version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reprotune_request_seconds",
            "Request latency by path",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "reprotune_batch_size",
            "Records per /predict request",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.forward_rows = Histogram(
            "reprotune_forward_pass_rows",
            "Records scored per forward pass (micro-batching joins requests)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.contract_violations = Counter(
            "reprotune_contract_violations",
            "Record values that break the model's data contract, by feature and check",
            ["feature", "check"],
            registry=self.registry,
        )
        self.unknown_texts = Counter(
            "reprotune_texts_without_known_words",
            "Texts none of whose words is in the training rows' vocabulary, by feature",
            ["feature"],
            registry=self.registry,
        )
        self.drift_psi = Gauge(
            "reprotune_feature_drift_psi",
            "PSI of the last records scored against the training rows, by feature",
            ["feature"],
            registry=self.registry,
        )
        self.drifted = Gauge(
            "reprotune_feature_drifted",
            "1 when the feature of the last records scored drifted from the training rows",
            ["feature"],
            registry=self.registry,
        )
        self.dataset_drift = Gauge(
            "reprotune_dataset_drift",
            "1 when enough features of the last records scored drifted (the drift window)",
            registry=self.registry,
        )
        self.drift_rows = Gauge(
            "reprotune_drift_window_records",
            "Records in the drift window",
            registry=self.registry,
        )
        self.model = Gauge(
            "reprotune_model_info",
            "1 for the model version being served",
            ["name", "version"],
            registry=self.registry,
        )

    def serving(self, name: str, version: str, previous: str | None = None) -> None:
        if previous is not None:
            self.model.labels(name=name, version=previous).set(0)
        self.model.labels(name=name, version=version).set(1)

    def report_drift(self, report: dict | None, rows: int) -> None:
        self.drift_rows.set(rows)
        if report is None:
            return
        for feature, result in report["features"].items():
            self.drift_psi.labels(feature=feature).set(result["psi"] or 0.0)
            self.drifted.labels(feature=feature).set(int(result["drifted"]))
        self.dataset_drift.set(int(report["dataset_drift"]))
