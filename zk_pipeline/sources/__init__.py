"""Where protocol metrics come from: a replay file, Ekubo's HTTP API or a Starknet node, behind one contract."""
