"""One module per `duban` subcommand; pipelines/cli.py parses the arguments and calls them."""
