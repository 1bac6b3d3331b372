"""``python -m pytest_segpendo``: the same as the ``segpendo`` command."""

from .cli import run

if __name__ == "__main__":
    run()
