"""The world: scenario schema and loader, the Mesa market model, settlement and recording."""
