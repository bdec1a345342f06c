"""`python -m geoclassify`: the `geoclassify` command, for environments where only the interpreter is known."""

from geoclassify.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="geoclassify")
