"""`python -m cli`: the same as the `alpr-monitor` command."""

from cli.main import main

raise SystemExit(main())
