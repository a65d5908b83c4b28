"""The conversation engine: routing, flow state, validation and reply wording."""
