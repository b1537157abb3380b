"""`python -m refsearch …` runs the CLI."""

from .cli import main

main()
