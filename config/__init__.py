"""Configuration: TOML profiles and the msgspec schema that validates them."""
