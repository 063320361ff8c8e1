"""The workflows' fixtures (the time-skipping server with the stand-in workers), for the starter."""

from tests.workflows.conftest import env, standins

__all__ = ["env", "standins"]
