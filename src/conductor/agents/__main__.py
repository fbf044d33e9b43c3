"""`python -m conductor.agents perplexity|xai`: one REST request as its own process (see rest.main)."""

import sys

from conductor.agents.rest import main

sys.exit(main())
