"""What the two live service clients share: their settings, their `ServicePolicy`, their connection.

`AcousticBrainzApiSource` and `MusicBrainzApiCatalog` implement different interfaces
(`TrackFeatureSource` and `ReleaseCatalog`), so what they have in common is a second base class,
listed first: `class AcousticBrainzApiSource(LiveServiceClient, TrackFeatureSource)`. Both bases
are `ConfigurableResource`s and pydantic merges their fields, so every setting keeps its flat
name (`requests_per_window`, `max_attempts`, ...) in code, in the Launchpad and in the
`resources:` run config, as before the base existed.

The base URL and the pace have a different default per service (1 request per second for
MusicBrainz, 10 per 10 s for AcousticBrainz), so each service declares those three fields
itself; pydantic replaces a redeclared field whole, constraints and description included.
"""

from pathlib import Path
from typing import ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr

from albumrec_pipeline.resources.http_client import (
    CheckpointStore,
    MissingContactError,
    ServiceConnection,
    ServicePolicy,
    ServiceSession,
    user_agent,
)
from albumrec_pipeline.settings import DATA_DIR


class LiveServiceClient(dg.ConfigurableResource):
    """Settings and plumbing of a client of one web service: identity, pacing, retries, cache."""

    # Declared by each service, with its own default.
    base_url: str
    requests_per_window: int
    window_seconds: float

    contact: str = Field(
        default="",
        description="Email or URL put in the User-Agent (set ALBUMREC_CONTACT); MusicBrainz requires one.",
    )
    state_dir: str = Field(
        default=str(DATA_DIR / "http_state"),
        description="Folder for the HTTP cache, stored results and the rate-limit budget shared by all processes.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Seconds to wait for an answer before retrying.")
    max_attempts: int = Field(default=6, ge=1, description="Attempts per request before giving up with an error.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First pause before a retry; doubles each time.")
    max_backoff_seconds: float = Field(default=60.0, ge=0, description="Longest pause between retries.")
    max_retry_after_seconds: float = Field(
        default=300.0, ge=0, description="Longest server-requested pause (Retry-After) to sit out instead of failing."
    )

    SERVICE: ClassVar[str]
    CACHE_NAME: ClassVar[str]  # the HTTP cache's SQLite file, without suffix
    STORE_NAME: ClassVar[str]  # the checkpoint store's SQLite file
    CONTACT_REQUIRED: ClassVar[bool] = False

    _connection: ServiceConnection | None = PrivateAttr(default=None)

    def follows_rate_limit_headers(self) -> bool:
        return False

    def cache_expire_seconds(self) -> float | None:
        """None: answers never expire."""
        return None

    def policy(self) -> ServicePolicy:
        return ServicePolicy(
            service=self.SERVICE,
            base_url=self.base_url,
            user_agent=user_agent(self.contact),
            state_dir=Path(self.state_dir),
            requests_per_window=self.requests_per_window,
            window_seconds=self.window_seconds,
            follow_rate_limit_headers=self.follows_rate_limit_headers(),
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
            cache_expire_seconds=self.cache_expire_seconds(),
        )

    @property
    def connection(self) -> ServiceConnection:
        if self._connection is None:
            self._connection = ServiceConnection(
                lambda: ServiceSession(self.policy(), self.CACHE_NAME), Path(self.state_dir) / self.STORE_NAME
            )
        return self._connection

    @property
    def session(self) -> ServiceSession:
        if self.CONTACT_REQUIRED and not self.contact.strip():
            raise MissingContactError(self.SERVICE)
        return self.connection.session

    @property
    def store(self) -> CheckpointStore:
        return self.connection.store

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
