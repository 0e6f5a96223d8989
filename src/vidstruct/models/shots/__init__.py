"""Networks that score shot transitions: TransNetV2 (:mod:`.transnetv2`)."""
