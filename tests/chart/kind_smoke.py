"""Requests through the router with the ``openai`` SDK (run by the e2e workflow on kind).

    python -m tests.chart.kind_smoke http://127.0.0.1:8080/v1 gpt-oss-20b

Waits (with a deadline) until the router lists the model, then sends a chat completion, a
streamed chat completion and a Responses API call, and checks each answer has content and usage.
"""

from __future__ import annotations

import sys
import time

import openai


def wait_for_model(client: openai.OpenAI, model: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if model in {m.id for m in client.models.list()}:
                return
        except openai.APIError as error:
            print(f"router not answering yet: {error}", flush=True)
        if time.monotonic() > deadline:
            raise SystemExit(f"{model} not listed by the router within {timeout}s")
        time.sleep(1)


def main(base_url: str, model: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="e2e", max_retries=5, timeout=60)
    wait_for_model(client, model, timeout=300)

    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}], max_tokens=512
    )
    assert reply.choices[0].message.content, reply
    assert reply.usage is not None and reply.usage.completion_tokens > 0, reply
    print(f"chat: {reply.choices[0].message.content!r}", flush=True)

    chunks = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=512,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text, "the stream carried no content"
    print(f"stream: {text!r}", flush=True)

    response = client.responses.create(model=model, input="Say goodbye.", max_output_tokens=512)
    assert response.output_text, response
    print(f"responses: {response.output_text!r}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
