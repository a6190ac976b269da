"""The ListenBrainz API's recording feedback, through the same HTTP policy as the other live clients.

`GET /1/feedback/user/<user_name>/get-feedback?count=<n>&offset=<k>` answers
`{"feedback": [...], "count": n, "offset": k, "total_count": N}`, newest feedback first, at most
1000 rows a request; every row has `recording_mbid`, `recording_msid` (either may be null),
`score` (1 loved, -1 hated), `created` and `user_id`. The client asks for all scores at once and
pages by the number of rows each answer held, until `total_count` is reached. An unknown user is
a 404.

ListenBrainz reports its budget in `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset-In` on every answer and answers 429 past it: the shared session adopts the
limit, pauses when nothing remains, and sits out a 429 for `X-RateLimit-Reset-In` before asking
again. Reading feedback is public; a user token (`ALBUMREC_LISTENBRAINZ_TOKEN`, read when the
command runs) is sent as `Authorization: Token <token>` when set, which may earn a higher rate
limit. The token is never logged, printed or stored: requests-cache leaves the Authorization
header out of what it keeps, and errors have it masked.

Feedback changes whenever the listener loves or hates a track, so answers are cached briefly
(`page_cache_seconds`): a run that failed part-way can be run again at once without asking for
the pages it already has, while a later run sees the newest feedback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from albumrec_pipeline.core.listenbrainz import (
    FeedbackRow,
    ListenBrainzDataError,
    feedback_row,
)
from albumrec_pipeline.resources.http_client import (
    CONTACT_ENV_VAR,
    ServiceConnection,
    ServiceError,
    ServicePolicy,
    ServiceSession,
)
from albumrec_pipeline.resources.service_client import LiveServiceClient
from albumrec_pipeline.settings import (
    LISTENBRAINZ_URL_ENV_VAR,
    read_service_url,
    setting,
)

TOKEN_ENV_VAR = "ALBUMREC_LISTENBRAINZ_TOKEN"
# The server answers at most this many rows a request, whatever `count` asks for.
MAX_ITEMS_PER_GET = 1000
DEFAULT_URL = "https://api.listenbrainz.org"

_quiet_log = logging.getLogger("albumrec.listenbrainz").info


class TokenError(ValueError):
    """The token variable holds something that cannot be a header value; the value is never shown."""


class _TokenSession(ServiceSession):
    def __init__(self, policy: ServicePolicy, cache_name: str, token: str, log: Callable[[str], None]):
        super().__init__(policy, cache_name, log)
        if token:
            self._session.headers["Authorization"] = f"Token {token}"


class ListenBrainzApi(LiveServiceClient):
    """A listener's loved and hated recordings from the ListenBrainz API."""

    SERVICE: ClassVar[str] = "ListenBrainz"
    CACHE_NAME: ClassVar[str] = "listenbrainz_http_cache"
    STORE_NAME: ClassVar[str] = "listenbrainz_results.sqlite"

    base_url: str = Field(default=DEFAULT_URL, description="ListenBrainz API root, without /1.")
    requests_per_window: int = Field(
        default=30, ge=1, description="Requests allowed per window until the server's X-RateLimit headers say otherwise."
    )
    window_seconds: float = Field(default=10.0, gt=0, description="Length of the rate-limit window, in seconds.")
    token: str = Field(
        default="",
        repr=False,
        description=f"ListenBrainz user token (set {TOKEN_ENV_VAR}); optional, feedback is public.",
    )
    page_size: int = Field(default=MAX_ITEMS_PER_GET, ge=1, le=MAX_ITEMS_PER_GET, description="Rows asked for a request.")
    page_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long an answer is reused (a re-run after a failure part-way)."
    )

    def follows_rate_limit_headers(self) -> bool:
        return True

    def cache_expire_seconds(self) -> float | None:
        return self.page_cache_seconds

    @property
    def connection(self) -> ServiceConnection:
        if self._connection is None:
            token = self.token.strip()
            # A line break would let the value end the header early; a space is not in any token.
            if token and not re.fullmatch(r"[\x21-\x7e]+", token):
                raise TokenError(
                    f"{TOKEN_ENV_VAR} is not a ListenBrainz user token (it holds spaces, line breaks or other "
                    "characters no token has); copy it from https://listenbrainz.org/settings/ or unset it"
                )
            self._connection = ServiceConnection(
                lambda: _TokenSession(self.policy(), self.CACHE_NAME, token, _quiet_log),
                Path(self.state_dir) / self.STORE_NAME,
            )
        return self._connection

    def _masked(self, error: ServiceError) -> ServiceError:
        token = self.token.strip()
        if not token or token not in str(error):
            return error
        masked = type(error)(error.service, error.endpoint, error.subject, error.problem.replace(token, "<token>"))
        return masked

    def user_feedback(self, user: str, log: Callable[[str], None] | None = None) -> list[FeedbackRow]:
        """Every feedback row of `user`, newest first. Raises NotFoundError for an unknown user,
        ServiceError when the service stays unreachable or answers something else than documented."""
        log = log or _quiet_log
        session = self.session
        path = f"/1/feedback/user/{quote(user, safe='')}/get-feedback"
        subject = f"user {user}"
        rows: list[FeedbackRow] = []
        offset, total = 0, None
        try:
            while total is None or offset < total:
                params = {"count": str(self.page_size), "offset": str(offset)}
                page = session.get_json(path, params, subject)
                feedback, total = self._checked_page(session, path, params, subject, page, offset)
                for index, item in enumerate(feedback):
                    try:
                        rows.append(feedback_row(item, f"row {offset + index + 1}"))
                    except ListenBrainzDataError as error:
                        raise session.shape_error(path, params, subject, str(error)) from None
                if not feedback:
                    break  # feedback removed while paging: what remains was all there was
                offset += len(feedback)
                log(f"ListenBrainz: {min(offset, total)} of {total} feedback rows of {user} read")
        except ServiceError as error:
            raise self._masked(error) from None
        return rows

    @staticmethod
    def _checked_page(
        session: ServiceSession, path: str, params: dict[str, str], subject: str, page: Any, offset: int
    ) -> tuple[list, int]:
        problem = None
        if not isinstance(page, dict):
            problem = f"the answer is a {type(page).__name__}, not an object"
        elif not isinstance(page.get("feedback"), list):
            problem = "'feedback' is not a list"
        elif not all(isinstance(page.get(key), int) and not isinstance(page.get(key), bool) and page[key] >= 0
                     for key in ("count", "offset", "total_count")):
            problem = "'count', 'offset' and 'total_count' are not all counts"
        elif page["offset"] != offset:
            problem = f"asked for offset {offset}, the answer starts at {page['offset']}"
        elif page["count"] != len(page["feedback"]):
            problem = f"'count' is {page['count']} but 'feedback' holds {len(page['feedback'])} rows"
        if problem:
            raise session.shape_error(path, params, subject, problem)
        return page["feedback"], page["total_count"]


def client_from_environment(**settings: Any) -> ListenBrainzApi:
    """The client as `albumrec import` runs it: the server from ALBUMREC_LISTENBRAINZ_URL, the token
    from ALBUMREC_LISTENBRAINZ_TOKEN and the contact from ALBUMREC_CONTACT, read now; `settings`
    override the rest (tests shrink the pauses)."""
    url = read_service_url(LISTENBRAINZ_URL_ENV_VAR)
    options: dict[str, Any] = {
        **({"base_url": url} if url else {}),
        "token": setting(TOKEN_ENV_VAR) or "",
        "contact": setting(CONTACT_ENV_VAR) or "",
    }
    return ListenBrainzApi(**{**options, **settings})
