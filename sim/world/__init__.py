"""Pure world maths on arrays: settlement, population, trust, dynamics, network, sanctions."""
