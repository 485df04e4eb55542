"""WhatsApp Cloud API (Meta) webhooks: verification, signed message payloads, media by id."""
