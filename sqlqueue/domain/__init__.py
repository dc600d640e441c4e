"""Pure domain values and rules: no database, no HTTP."""
