"""The error ``vllm serve`` reports when it refuses its command line.

vLLM's parser is argparse's: ``ArgumentParser.error`` prints the usage line and
``<prog>: error: <message>`` to stderr and exits 2 (``vllm/utils/argparse_utils.py`` subclasses it
as ``FlexibleArgumentParser``). A few refusals are plain exceptions raised by
``FlexibleArgumentParser.parse_args`` before argparse runs; vLLM then dies with a traceback and
exit code 1, and ``prog`` is ``None`` here.
"""

from __future__ import annotations


class UsageError(ValueError):
    """``vllm serve`` would refuse this command line.

    ``str(error)`` is the message argparse prints after ``"<prog>: error: "``; ``flag`` is the
    offending flag as it was written (``None`` when the offender is not a flag); ``prog`` is the
    parser that reports it: ``"vllm serve"`` for most errors, ``"vllm"`` for unrecognized
    arguments (argparse reports those from the top-level ``vllm`` parser).
    """

    def __init__(
        self,
        message: str,
        *,
        flag: str | None = None,
        prog: str | None = "vllm serve",
        exit_code: int = 2,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.flag = flag
        self.prog = prog
        self.exit_code = exit_code
