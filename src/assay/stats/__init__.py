"""Statistics of human and judge answers, pure and without I/O: how far reviewers agree
(:mod:`assay.stats.agreement`)."""
