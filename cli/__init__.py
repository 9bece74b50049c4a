"""Entry points: the `stockflow` command and `stockflow up`'s process supervision."""
