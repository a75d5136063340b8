"""Development tools that the checks of `make test` load (not imported by the application)."""
