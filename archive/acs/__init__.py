"""Azure Communication Services Advanced Messaging (WhatsApp) delivered through Event Grid.

Pure adapter, like ``archive/meta``: the parser (``parser.parse_acs``), the Event Grid
handshakes (``handshake``) and the checks on an Entra ID bearer token that need no key
material (``token``). The RSA signature check, the signing-key fetch and the media
download live in ``storage/`` (``acs_auth``, ``media_acs``).
"""
