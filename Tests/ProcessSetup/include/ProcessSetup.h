// Nothing to call: ignore_broken_pipes.c sets the test process up as it loads.
