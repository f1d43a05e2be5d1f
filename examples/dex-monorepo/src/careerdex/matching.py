"""Skill-overlap scoring between a candidate and a job."""

from dataenginex import normalize_skills


def match_score(candidate_skills: list[str], job_skills: list[str]) -> float:
    """Share of the job's skills the candidate has, from 0.0 to 1.0."""
    wanted = normalize_skills(job_skills)
    if not wanted:
        return 0.0
    return len(wanted & normalize_skills(candidate_skills)) / len(wanted)
