"""Moderation of the stored results: a validated policy (:mod:`.policy`), the checker that turns the newest
complete analyses into flags and re-checks them when the policy changes (:mod:`.checker`), reviews appended to
the audit log (:mod:`.reviews`), and when a server or worker applies the policy (:mod:`.runtime`)."""
