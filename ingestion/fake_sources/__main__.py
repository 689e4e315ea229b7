"""Run a fake source as a process for the demo: `python -m ingestion.fake_sources --kind hubspot`."""

import argparse
import logging
import sys

from .advisory import FakeAdvisoryTool
from .generator import advisory_relations, dutch_contacts
from .hubspot import TEST_TOKEN, FakeHubSpot
from .server import Fault, RateLimit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion.fake_sources", description=__doc__)
    parser.add_argument("--kind", choices=("hubspot", "advisory"), default="hubspot")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--records", type=int, default=250, help="how many generated clients to serve")
    parser.add_argument("--seed", type=int, default=2026, help="the same seed gives the same people")
    parser.add_argument("--token", default=TEST_TOKEN, help="HubSpot: the accepted Bearer token")
    parser.add_argument("--auth", choices=FakeAdvisoryTool.AUTH_MODES, default="api_key", help="advisory tool")
    parser.add_argument("--pagination", choices=FakeAdvisoryTool.PAGINATIONS, default="page_number")
    parser.add_argument(
        "--rate-limit", metavar="N/SECONDS", help="answer 429 (Retry-After: 1) past N requests per window"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="N:SPEC",
        help="inject a fault on the Nth request: 3:500, 5:429:7, 7:hang:40, 9:truncated, 11:html",
    )
    args = parser.parse_args(argv)

    rate_limit = None
    if args.rate_limit:
        count, _, seconds = args.rate_limit.partition("/")
        rate_limit = RateLimit(int(count), float(seconds or 10))
    faults = {}
    for spec in args.fault:
        number, _, fault = spec.partition(":")
        faults[int(number)] = Fault.parse(fault)

    if args.kind == "hubspot":
        server = FakeHubSpot(
            dutch_contacts(args.records, seed=args.seed),
            token=args.token,
            ten_second_limit=rate_limit,
            faults=faults,
            host=args.host,
            port=args.port,
        )
    else:
        server = FakeAdvisoryTool(
            advisory_relations(args.records, seed=args.seed),
            auth=args.auth,
            pagination=args.pagination,
            rate_limit=rate_limit,
            faults=faults,
            host=args.host,
            port=args.port,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    server.start()
    print(f"Fake {args.kind} serving {args.records} clients on {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
