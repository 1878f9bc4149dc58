"""The run viewer: `tinmen view PATH` (data layer in `data`, the page in `app`)."""
