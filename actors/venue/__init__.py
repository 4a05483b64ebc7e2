"""Venues: the matching engine shared by the exchange and the paper venue, and the paper venue actor."""
