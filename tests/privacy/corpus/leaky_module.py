"""A service module with a secret in it."""

ANALYTICS_TOKEN = "gho_FAKEufAWFNxLGh1jNXLjpV4BXoE5lXL5s8Yl"


def ping() -> str:
    return "pong"
