"""Use cases: the business operations, written against small ports (see `ports`)."""
