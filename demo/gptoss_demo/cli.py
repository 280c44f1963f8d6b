"""``gptoss-demo``: the whole system on this machine, with no GPU, in one command.

gptoss-demo            run the story, print a live summary and a report, stop, exit 0
gptoss-demo --keep     ... then keep everything running until Ctrl-C, to poke at it
gptoss-demo --short    a shorter story (the end-to-end test runs this)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from gptoss_demo.report import plot, poke_commands, summary
from gptoss_demo.scenario import FULL, SHORT, run_scenario
from gptoss_demo.stack import running_stack


def _say(message: str) -> None:
    print(f"[gptoss demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gptoss-demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--short", action="store_true", help="a shorter story")
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="where the report and the plot go (default: ./demo-output)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="gptoss-demo-") as work,
        running_stack(Path(work), say=_say) as stack,
    ):
        story, timeline = asyncio.run(run_scenario(stack, SHORT if args.short else FULL, _say))
        report = summary(story, timeline.samples)
        print("\n" + report)
        (args.out / "report.txt").write_text(report + "\n")
        image = plot(timeline.samples, args.out / "replicas-and-spill.png")
        if image is not None:
            print(f"  plot                              {image}")
        print("\n" + poke_commands(stack, running=args.keep))
        if args.keep:
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print("\nrunning; Ctrl-C stops every process")
            stop.wait()
        else:
            print("\nthe demo stops everything it started now")
    return 0 if not story.problems() else 1


if __name__ == "__main__":
    sys.exit(main())
