"""What every benchmark's command line shares."""

from __future__ import annotations

import argparse


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's argument parser, its help led by the module's docstring
    as written (the usage examples keep their lines)."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
