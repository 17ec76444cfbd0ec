"""``python -m zk_pipeline.cli`` — the same as the ``zkp`` script."""

import sys

from zk_pipeline.cli import main

sys.exit(main())
