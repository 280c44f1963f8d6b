"""gptoss router: one OpenAI-compatible endpoint over local vLLM pods and hosted providers.

Layers, top down; a layer imports only those below it (import-linter checks it, ``make lint``)::

    cli                      load settings, serve on uvicorn
    http                     app, lifespan, non-generating routes, OpenAPI, wire limits
    proxy                    the request path: handler, ASGI I/O, attempt, relay, accounting
    watch                    discovery of pods, their metrics, active health checks
    routing                  policy, backends, access, holding, retry budget
    state | openai           remembered state; the OpenAI dialects (pure, independent)
    settings
    config | metrics
    errors
"""

__version__ = "0.1.0"
