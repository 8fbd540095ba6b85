"""`python -m producer`: the same command as the `produce` console script."""

from producer.cli import main

if __name__ == "__main__":
    main()
