"""Simulated hosted providers of gpt-oss: Groq, Fireworks AI, Together AI, a generic one."""
