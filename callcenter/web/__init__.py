"""HTTP side: the URL table (:mod:`.routes`), thin JSON handlers (:mod:`.api`), the request
pipeline (:mod:`.middlewares`) and who-is-calling (:mod:`.auth`)."""
