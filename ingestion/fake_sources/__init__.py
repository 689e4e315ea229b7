"""Local HTTP servers that behave like the real sources, for the tests and the demo.

    with running(FakeHubSpot(dutch_contacts(250))) as base_url:
        ...  # point a HubSpotConnector at base_url

`python -m ingestion.fake_sources --kind hubspot --port 8100` runs one as a process.
"""

from .advisory import FakeAdvisoryTool
from .generator import advisory_relations, dutch_contacts, people
from .hubspot import FakeHubSpot
from .server import FakeServer, Fault, ManualClock, RateLimit, RecordedRequest, running

__all__ = [
    "FakeAdvisoryTool",
    "FakeHubSpot",
    "FakeServer",
    "Fault",
    "ManualClock",
    "RateLimit",
    "RecordedRequest",
    "advisory_relations",
    "dutch_contacts",
    "people",
    "running",
]
