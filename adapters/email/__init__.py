"""Email intake: IMAP (a mailbox the gateway reads) and SMTP (the gateway as the final MTA)."""
