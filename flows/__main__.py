"""`python -m flows serve`: serve every deployment against the local Prefect server."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] != ["serve"]:
        raise SystemExit("usage: python -m flows serve")
    from prefect import serve

    from flows.post_vouchers import deployments

    serve(*deployments(), print_starting_message=False)


if __name__ == "__main__":
    main()
