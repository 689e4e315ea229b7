"""Transport from external sources into Steward: connectors that page, fetch and fail in types.

The sync engine needs only `connector_for(kind, config, credentials)` and the names in `base`.
"""

from collections.abc import Mapping
from typing import Any

from .base import (
    AuthenticationFailed,
    ConfigurationError,
    Connector,
    Page,
    PermanentSourceError,
    QuotaExhausted,
    RateLimited,
    RejectedRecord,
    SourceError,
    SourceRecord,
    TransientSourceError,
)
from .hubspot import HubSpotConnector
from .rest import RestConnector

CONNECTORS: dict[str, type[Connector]] = {
    HubSpotConnector.kind: HubSpotConnector,
    RestConnector.kind: RestConnector,
}


def connector_for(kind: str, config: Mapping[str, Any], credentials: Mapping[str, Any], **options: Any) -> Connector:
    """The connector for a source's `kind`; options (sleep, clock, now, transport) are for tests."""
    try:
        connector_class = CONNECTORS[kind]
    except KeyError:
        raise ConfigurationError(f"unknown connector kind {kind!r}") from None
    return connector_class(config, credentials, **options)


__all__ = [
    "CONNECTORS",
    "AuthenticationFailed",
    "ConfigurationError",
    "Connector",
    "HubSpotConnector",
    "Page",
    "PermanentSourceError",
    "QuotaExhausted",
    "RateLimited",
    "RejectedRecord",
    "RestConnector",
    "SourceError",
    "SourceRecord",
    "TransientSourceError",
    "connector_for",
]
