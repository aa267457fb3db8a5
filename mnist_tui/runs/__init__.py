"""Run folders: ids, config/summary/metrics records, listing, `latest`. Standard library only."""
