"""The foundation every other kit package shares: errors, AWS clients, the stack spec, the
provisioners, capability names and the Terraform plumbing.

It imports nothing above it: ``producer``, ``local`` and ``scenarios`` depend on it, never the
other way round (``make lint`` checks this with import-linter). From the consumer it uses only
the stdlib-only contract module.
"""
