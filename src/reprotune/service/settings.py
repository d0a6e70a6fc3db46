"""What `reprotune serve` was asked for; passed to the uvicorn workers as JSON in one
environment variable, so every worker process builds the same app."""

import json
import os
from dataclasses import asdict, dataclass, field

SETTINGS_ENV = "REPROTUNE_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServiceSettings:
    model: str  # models:/<name>@<alias>, models:/<name>/<version>, or a candidate folder
    tracking_uri: str | None = None
    max_batch: int = 256  # records in one request
    max_body_bytes: int = 1_000_000
    max_text_chars: int = 10_000  # per text field
    api_key_env: str | None = None  # the variable holding the key; None: no key needed
    cors_origins: list[str] = field(default_factory=list)  # none: CORS off
    poll_s: float = 30.0  # how often an alias is looked up again; 0: never
    # Micro-batching: requests within this many ms share one forward pass. None: 5 ms for
    # the transformer (it gains from batches), off for the others; 0: off.
    batch_wait_ms: float | None = None
    log_bodies: bool = False
    # Requests against the model's data contract: count the violations in /metrics (count),
    # also refuse them with 422 (enforce), or neither (off).
    contract: str = "count"
    # The last this many records scored: /metrics reports their drift from the training rows.
    drift_window: int = 1000
    # /explain: LIME's perturbed texts (text models), SHAP permutations (model-agnostic
    # tabular models), attributions returned.
    explain_samples: int = 300
    explain_permutations: int = 5
    explain_top_k: int = 10

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServiceSettings":
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise RuntimeError(f"{SETTINGS_ENV} is not set; start the service with reprotune serve")
        return cls(**json.loads(raw))
