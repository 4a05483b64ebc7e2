"""Portfolio: positions, realized and unrealized PnL, fees, funding and the one equity figure."""
