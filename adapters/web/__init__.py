"""The web channel: the JSON API (provider "api") and the citizen's web form (provider "form")."""
