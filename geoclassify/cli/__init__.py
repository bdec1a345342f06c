"""The `geoclassify` command line: a click group (main) and one module per command."""
