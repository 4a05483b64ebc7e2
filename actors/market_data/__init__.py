"""Market data: L2 books, marks, fixed-cadence bars and staleness, one owner per book."""
