"""Execution: intents -> quantized orders through the pre-trade gate -> venue; order tracking."""
