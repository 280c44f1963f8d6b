"""The HTTP edge: the app and its lifespan, the non-generating routes, OpenAPI, wire limits.

``app`` builds everything long-lived and hands generating requests straight to ``proxy``;
``state`` is what the lifespan built, read by ``routes`` (so the two never import each other).
"""
