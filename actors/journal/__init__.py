"""Journal: the single writer of the SQLite database (orders, events, fills, positions, supervision)."""
