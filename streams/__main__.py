"""`python -m streams worker ...`: the Faust command line for the stockflow app."""

from streams.app import main

main()
