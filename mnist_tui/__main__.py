"""`python -m mnist_tui` is the same as the `mnist` console script."""

from mnist_tui.cli import main

if __name__ == "__main__":
    main()
