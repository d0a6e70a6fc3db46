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
