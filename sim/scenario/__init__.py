"""The scenario file: frozen schema, loader (with --set overrides), README reference generator."""
