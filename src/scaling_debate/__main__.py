"""``python -m scaling_debate``: the book's command line (see `scaling_debate.book.cli`)."""

import sys

from scaling_debate.book.cli import main

if __name__ == "__main__":
    sys.exit(main())
