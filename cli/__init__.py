"""The `tinmen` command line: the top floor, the only package importing both sim and analysis."""
