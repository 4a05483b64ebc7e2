"""Strategy: signals from bars and the sizing that turns them into order intents."""
