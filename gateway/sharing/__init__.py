"""The person's side of the gateway: sharing choices recorded through the API (choices.py) and the
person's own access history, decided through the policy (history.py)."""
