import sys

from gptoss_demo.cli import main

sys.exit(main())
