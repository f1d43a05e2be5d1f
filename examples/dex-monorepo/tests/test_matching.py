from careerdex import match_score


def test_full_match() -> None:
    assert match_score(["Python", "SQL"], ["sql", "python"]) == 1.0


def test_partial_match() -> None:
    assert match_score(["python"], ["python", "spark"]) == 0.5


def test_job_without_skills() -> None:
    assert match_score(["python"], []) == 0.0
