"""The structuring service: HTTP API (:mod:`.api`), database and migrations (:mod:`.db`), durable jobs and
workers (:mod:`.jobs`), API keys (:mod:`.auth`) and the settings every part shares (:mod:`.settings`)."""
