"""The hub console and HTTP API (FastAPI): build it with `hub.api.app.create_app(ctx)`."""
