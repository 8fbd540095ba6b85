"""`make bench`: every number the issues ask for, measured side by side in one run."""
