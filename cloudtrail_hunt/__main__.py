"""`python -m cloudtrail_hunt` runs the command line."""

from cloudtrail_hunt.cli import main

raise SystemExit(main())
