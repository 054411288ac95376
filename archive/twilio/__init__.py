"""Twilio (WhatsApp through Programmable Messaging) adapter (pure).

``parser.parse_twilio`` splits one form-encoded webhook (an incoming message or a status
callback) into canonical events; ``media`` reads the media list a webhook carries and the
Media resource URLs the fetcher (``storage.media_twilio``) downloads from.
"""
