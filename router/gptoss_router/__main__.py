"""``python -m gptoss_router``."""

from gptoss_router.cli import main

raise SystemExit(main())
