"""The OpenAI API as the router speaks it, all pure: reading requests (``inbound``), rewriting
them per backend (``outbound``) and answers back (``replies``), error bodies, SSE framing, and the
catalog of backend dialects and their capabilities (``dialects``).
"""
