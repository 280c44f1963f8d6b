"""The request path: read off the wire, try candidates in order, relay the winner, account.

``handler`` drives one request; ``asgi`` reads and writes the ASGI messages; ``attempt`` is one
try against one backend up to its first byte; ``relay`` streams a committed answer back;
``accounting`` records what each attempt did to shared state and metrics; ``session`` is the
one upstream HTTP client.
"""
