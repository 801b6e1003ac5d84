"""`python -m rangetui` behaves exactly like the `rangetui` console script."""

from rangetui.cli import run

run()
