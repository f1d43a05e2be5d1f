"""CareerDEX: match candidates to jobs by skill overlap."""

from careerdex.matching import match_score

__all__ = ["match_score"]
