"""The request engine: from a mitmproxy flow to an upstream call and back.

Read in this order: ``intake`` (what a request is: not ours, refused, routed), ``dispatch``
(which kind of flight handles it), ``planner`` (candidates: backend + leased key, the body
converted), ``flight`` (one exchange between hooks, failover), ``passthrough`` / ``converting``
(what happens to the answer), ``failover`` and ``layer_retry`` (retries before the first byte),
``keeper`` (leases back to the pool, key probes), ``record`` (what is kept and shown).
"""
