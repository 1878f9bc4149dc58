"""The engine: agents, the Mesa model (prepare -> complete), tick table, recorder, run driver."""
