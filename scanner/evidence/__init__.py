"""Evidence: the scan journal, bundles and their verification, attestations, OSCAL, diff."""
