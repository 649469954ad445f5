"""Every limit in one place.

The pure core, the relay and the client read the same ``Limits``; a relay
operator can tighten them, a client refuses anything over them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    #: canonical header bytes (the signed, cleartext part of an event)
    max_header_bytes: int = 64 * 1024
    #: one ciphertext
    max_ciphertext_bytes: int = 1024 * 1024
    #: all ciphertexts of one event together
    max_event_ciphertext_bytes: int = 24 * 1024 * 1024
    #: separate ciphertexts of one event (one per recipient when tracing)
    max_ciphertexts_per_event: int = 1000
    #: recipient device keys of one event
    max_recipients_per_event: int = 2000
    #: parties in one negotiation
    max_parties: int = 64
    #: request body accepted by the relay
    max_request_bytes: int = 26 * 1024 * 1024
    #: one attached file (any type), streamed from disk to disk on both ends; sending, a sync receiving it and
    #: saving it were measured flat up to 525 MB (docs/performance.md, "Large attachments")
    max_attachment_bytes: int = 500 * 1024 * 1024
    #: a PDF delivered with leak tracing: each reader's copy is stamped by pypdf, which holds the document in
    #: memory, so it stays at the size the attachment limit had before files were streamed
    max_stamped_pdf_bytes: int = 20 * 1024 * 1024
    #: accepted distance between an event's creation time and the relay's clock
    max_clock_skew_seconds: int = 300
    #: age of an RFC 9421 request signature
    max_request_age_seconds: int = 300
    #: events returned by one list call
    max_page_events: int = 1000
    #: bytes of one list call's events (signed headers and ciphertexts): a page ends before the event that
    #: would take it past this, its first event always in (a page of attachment chunks is a few of them)
    max_page_bytes: int = 8 * 1024 * 1024
    #: bytes of recent events a relay process keeps written out for listings (their reader-independent part)
    max_page_cache_bytes: int = 32 * 1024 * 1024
    #: plain text fields (titles, names)
    max_name_chars: int = 200
    #: message or memorandum body text, in characters
    max_text_chars: int = 1_000_000
    #: posts per device per second (token bucket rate) and burst
    rate_per_device: float = 200.0
    rate_burst: int = 400
    #: concurrent SSE streams per device
    max_streams_per_device: int = 4
    #: seconds a client may take to send a whole request body (slow clients are cut off with 408)
    max_body_seconds: float = 30.0
    #: seconds a client waits for another process (the web UI, a second command) to finish its act on the
    #: same profile before giving up with a "busy" message
    profile_lock_seconds: float = 30.0


DEFAULT_LIMITS = Limits()
