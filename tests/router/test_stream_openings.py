"""A hosted platform opens its stream (the role chunk) before it generates; a provider that
breaks after that opening has not begun the answer, so the request goes on to the next one and
the client never sees the break."""

from __future__ import annotations

import openai
from tests.router.live import fleet, router_in_thread, router_settings

MODEL = "gpt-oss-120b"


def test_a_provider_that_breaks_after_opening_its_stream_is_left_for_the_next_one() -> None:
    cut = "disconnect_after=1,path=/openai/v1/chat"  # the role chunk, then the connection closes
    with fleet(provider_faults={"groq": (cut,)}) as found:
        settings = router_settings(found, local={"pods": []}, prices={"groq": (0.10, 0.40)})
        with router_in_thread(settings) as (url, registry):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
            with client.chat.completions.with_streaming_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Hi"}],
                max_tokens=200,
                stream=True,
            ) as response:
                backend = response.headers["x-gptoss-backend"]
                chunks = list(response.parse())
            broken = registry.get_sample_value(
                "gptoss_router_retries_total", {"backend": "groq", "reason": "reset"}
            )
    assert backend != "groq"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] is not None
    assert broken == 1  # groq, the cheapest, was tried first and broke after its opening
