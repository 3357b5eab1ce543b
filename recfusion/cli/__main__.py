"""`python -m recfusion.cli`, for environments without the console script."""
from recfusion.cli import main

main()
