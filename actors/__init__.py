"""The trading subsystems: one package per actor (thin Pykka shell + pure core + messages).

Venue code (the simulated paper venue, the built-in exchange) lives with the actor that owns it.
"""
