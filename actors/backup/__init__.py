"""Backup: scheduled, verified, compressed snapshots of the journal database with retention."""
