"""Retrieval evaluation: the Revisited Oxford/Paris protocol and leave-one-out mAP."""
