"""`python -m bench` (and `torchrun -m bench train ...`) run the CLI."""

from bench.cli import main

if __name__ == "__main__":
    main()
