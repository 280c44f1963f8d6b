"""A Responses conversation whose turns go to two different router pods (run by the e2e
workflow on kind, and by the real-node test).

    python -m tests.chart.kind_conversation http://127.0.0.1:8081/v1 http://127.0.0.1:8082/v1 \\
        gpt-oss-20b

The two URLs must reach two distinct router pods (``kubectl port-forward pod/<name>`` each),
never the Service, which could send both turns to the same pod. Routers keep stored responses
in the store they share, so the turn created through the first pod is continued
(``previous_response_id``) and retrieved through the second, and the follow-up is retrieved
through the first. The checks that make the story falsifiable: an unknown
``previous_response_id`` is refused (so a continued turn really found the first one), and the
continued turn's prompt is longer than the same input sent alone (so the first turn's items were
replayed to the model, not just its id accepted).
"""

from __future__ import annotations

import sys
import uuid

import openai

from tests.chart.kind_smoke import wait_for_model

REQUEST_SECONDS = 60
LIST_SECONDS = 300


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="e2e", max_retries=3, timeout=REQUEST_SECONDS)


def continue_across(first_url: str, second_url: str, model: str) -> None:
    """Create a stored turn through ``first_url``'s router and continue it through
    ``second_url``'s; raises AssertionError (or an ``openai`` error) if the second router does not
    see the first one's state."""
    assert first_url != second_url, "the two turns must go to two different routers"
    first, second = _client(first_url), _client(second_url)
    for client in (first, second):
        wait_for_model(client, model, timeout=LIST_SECONDS)

    turn = first.responses.create(model=model, input="Remember: blue.", max_output_tokens=512)
    assert turn.output_text, turn
    print(f"first router, {turn.id}: {turn.output_text!r}", flush=True)

    unknown = f"resp_{uuid.uuid4().hex}"
    try:
        second.responses.create(
            model=model, input="What colour?", previous_response_id=unknown, max_output_tokens=64
        )
    except openai.BadRequestError as error:
        assert error.code == "previous_response_not_found", error
    else:
        raise AssertionError(f"the second router continued {unknown}, which nobody stored")

    follow = second.responses.create(
        model=model, input="What colour?", previous_response_id=turn.id, max_output_tokens=512
    )
    assert follow.output_text, follow
    assert follow.previous_response_id == turn.id, follow
    print(f"second router, {follow.id} after {turn.id}: {follow.output_text!r}", flush=True)

    alone = second.responses.create(
        model=model, input="What colour?", store=False, max_output_tokens=512
    )
    assert follow.usage is not None and alone.usage is not None
    assert follow.usage.input_tokens > alone.usage.input_tokens, (follow.usage, alone.usage)
    print(
        f"prompt tokens: {follow.usage.input_tokens} continued, {alone.usage.input_tokens} alone",
        flush=True,
    )

    assert second.responses.retrieve(turn.id).output_text == turn.output_text
    assert first.responses.retrieve(follow.id).previous_response_id == turn.id


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: python -m tests.chart.kind_conversation URL_A URL_B MODEL")
    continue_across(*argv)


if __name__ == "__main__":
    main(sys.argv[1:])
