"""The link to care institutions (the *virtual sick bay*): HL7 FHIR R4 resources of a
resident's vital signs, NEWS2 and alarms, with device provenance, disclosed only under
the resident's consent (hub.fhir.consent) and audited: exported to a file, pushed to the
institution's endpoint, or read through the hub's search API. See docs/fhir.md."""
