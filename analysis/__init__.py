"""Analysis of run directories (reads files only, never imports the engine)."""
