"""The actor runtime: supervision, actor base, clock, scheduler, fault plans, metrics, logging.

Owns nothing about trading and must never import from `actors` or `config`.
"""
