"""Liquidity: spread, depth, imbalance and the liquidity score of each product's book."""
