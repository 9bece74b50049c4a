"""Inbound pallet inspection: generated training photos, the detector and its training."""
