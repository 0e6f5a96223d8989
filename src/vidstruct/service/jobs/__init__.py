"""Durable jobs: the queue in the database (:mod:`.queue`), videos entering it (:mod:`.intake`), and the worker
that claims, runs and stores them (:mod:`.worker`, :mod:`.analysis`)."""
