"""The HTTP API: a FastAPI app (app.py) with one router per resource (routes/)."""
