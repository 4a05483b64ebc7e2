"""Streaming: the Advanced Trade websocket connection, frame decoding, gap detection, captures."""
