"""`python -m rangetui` behaves exactly like the `rangetui` console script."""

from rangetui.cli import main

raise SystemExit(main())
