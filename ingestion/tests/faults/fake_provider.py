"""A message provider (an SMS gateway) over real HTTP that records every call, for the kill tests.

The worst kind of provider: it does not deduplicate, so every accepted call reaches the client.
It answers `lookup` (GET by idempotency key) as good providers do, which is what lets a sender that
died mid-call find out whether the message left. It runs in the test process, so its record
survives the workers the test kills.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import httpx

from followup.channels import ChannelBackend, ProviderError
from followup.models import Message
from ingestion.fake_sources.server import FakeServer, RecordedRequest, Response

PROVIDER_URL_ENV = "STEWARD_FAULTS_PROVIDER_URL"


class FakeMessageProvider(FakeServer):
    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.delivered: Counter[str] = Counter()  # idempotency key -> times it reached the client

    def handle(self, request: RecordedRequest) -> Response:
        if request.method == "POST" and request.path == "/messages":
            key = request.json()["idempotency_key"]
            with self._lock:
                self.delivered[key] += 1
            return Response(200, {"reference": f"sms-{key}"})
        if request.method == "GET" and request.path.startswith("/messages/"):
            key = request.path.removeprefix("/messages/")
            with self._lock:
                known = key in self.delivered
            return Response(200, {"reference": f"sms-{key}"}) if known else Response(404, {"message": "unknown"})
        return Response(404, {"message": "no such endpoint"})


class HttpSmsChannel(ChannelBackend):
    """The channel backend the workers use: POST to the fake provider, GET to look a message up."""

    def _url(self) -> str:
        return os.environ[PROVIDER_URL_ENV]

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        payload = {"to": message.recipient, "text": message.body, "idempotency_key": message.idempotency_key}
        try:
            response = httpx.post(f"{self._url()}/messages", content=json.dumps(payload), timeout=10)
        except httpx.HTTPError as error:
            raise ProviderError(f"provider unreachable: {error}", permanent=False) from error
        if response.status_code != 200:
            raise ProviderError(f"provider answered {response.status_code}", permanent=False)
        return response.json()["reference"]

    def lookup(self, message: Message):
        response = httpx.get(f"{self._url()}/messages/{message.idempotency_key}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["reference"]
