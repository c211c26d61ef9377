"""Events out of the outbox: to HTTP readers and Server-Sent Events (:mod:`.feed`), to webhooks
(:mod:`.webhooks`) and, at scale, to Kafka in Avro (:mod:`.relay`, :mod:`.schemas`, :mod:`.wire`,
:mod:`.registry`).

Every event is written to the store's outbox in the transaction of the change it tells of
(``aurum.store.outbox``, ``aurum.runs.events``); everything here only reads it, from a cursor,
and delivers at least once: consumers de-duplicate by the event id.
"""
