"""Rehearse GitHub Actions workflow files on this machine, from an event payload.

`rehearse(workflow, event, payload, origin=BARE_REPO, secrets=…, vars=…, services=…)`
(tests.rehearsal.fixtures; the `rehearsal` fixture shares artifacts and run ids across
the runs of one scenario) returns a `RunResult`: whether `on:` triggered, each job's
result (success/failure/cancelled/skipped), outputs, matrix legs, environment, steps
(outcome, conclusion, outputs, log, summary). `RunResult.assert_success()` fails with the
failing step's name and the tail of its log. `tests.rehearsal.payloads` builds payloads.

Supported:

- `on:` push (branches/tags/paths and their -ignore forms, `!` patterns), pull_request
  and pull_request_target (types, branches, paths on the three-dot diff), workflow_run
  (workflows, types, branches), workflow_dispatch (typed inputs, defaults, required),
  release, schedule and others by `types:`.
- `github.*` per event as documented: push -> `after`/`ref`; pull_request -> a real
  `refs/pull/N/merge` commit made in the origin; release -> the tag; workflow_dispatch ->
  the given ref; workflow_run, schedule and the rest -> the default branch's tip.
- Expressions: literals (null, booleans, numbers incl. hex, '' strings), every context
  (github, env, inputs, needs, steps, matrix, strategy, secrets, vars, runner, job) where
  GitHub allows it, `.`/`[…]` access (case-insensitive keys), object filters `.*`/`[*]`,
  `! < <= > >= == != && ||` and parentheses with loose equality and truthiness,
  contains, startsWith, endsWith, format, join, toJSON, fromJSON, hashFiles, success,
  failure, always, cancelled (implicit `success() &&` in `if:`). Unknown names, functions,
  operators, syntax or keys raise RehearsalError; properties that resolve to null are
  listed in `RunResult.misses`.
- Jobs by `needs` (status functions over all ancestors), `if:`, `strategy.matrix` (also
  from `fromJSON(needs…)`, include/exclude, fail-fast), `outputs`, `environment` (name,
  url, its secrets/vars), `permissions`, `env` at three levels, `defaults.run`,
  `working-directory`, `shell` (bash -e by default; bash, sh, python, custom `{0}`),
  `continue-on-error`, `timeout-minutes` (job and step, enforced), GITHUB_OUTPUT/ENV/
  PATH/STEP_SUMMARY files with the `name<<EOF` form, secrets masked in logs.
- Stand-ins (tests.rehearsal.actions, .artifacts, .publishing): actions/checkout,
  astral-sh/setup-uv, actions/setup-python, aquasecurity/setup-trivy,
  actions/upload-artifact, actions/download-artifact, pypa/gh-action-pypi-publish
  (twine to a mapped local index; trusted publishing needs `id-token: write`),
  docker/setup-buildx-action, docker/login-action, docker/build-push-action (buildah).
  Any other action, or an input the real action does not declare, raises RehearsalError;
  tests can add stand-ins with `stand_ins=`.

- Step overrides (tests.rehearsal.model.StepOverride, `overrides=`): a test may replace a
  `run:` step's command, named by job id and its exact evaluated script, with a stated
  reason; the StepResult records it (`RunResult.overridden` lists them all) and an override
  that matches no step of a job that succeeded, or names no job, raises RehearsalError.
  Nothing else is ever replaced.

Not modelled (RehearsalError): reusable workflows, containers and services, composite or
local actions, non-Linux runners; jobs run one after another.
"""
