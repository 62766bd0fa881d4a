"""Executes rollouts: manual splits, promote, abort and the progressive `run`.

The decisions come from the pure modules (traffic, resolve, gates, machine); this module
only reads the endpoint, writes what they decided and waits. Every write carries the etag
of the read it is based on, and the progressive loop re-reads the endpoint on every poll:
a change made by anyone else stops the rollout with a ConflictError instead of being
overwritten.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vxdeploy.errors import ConflictError, InvalidInputError, NotFoundError
from vxdeploy.live import LiveDeployedModel, LiveEndpoint, Reading
from vxdeploy.names import CANDIDATE_ALIAS, DEFAULT_ALIAS, STABLE_ALIAS
from vxdeploy.profile.model import OldVersionPolicy, RolloutPolicy, RolloutStrategy
from vxdeploy.roles import Versions, resolve
from vxdeploy.rollout.gates import GateResult, Verdict, judge
from vxdeploy.rollout.machine import (
    StepTiming,
    advance,
    needs_gates,
    start_index,
    timing_for,
)
from vxdeploy.rollout.ports import AliasPort, Clock, EndpointPort, MetricsPort
from vxdeploy.rollout.report import Progress, Report, iso, live_outcome
from vxdeploy.rollout_state import Phase, RolloutState, merge_labels
from vxdeploy.traffic import check_percent, split_for, steps_for


def check_runnable(policy: RolloutPolicy) -> list[int]:
    """The steps `rollout run` walks; InvalidInputError for a manual or malformed policy."""
    if policy.strategy is RolloutStrategy.MANUAL:
        raise InvalidInputError(
            "rollout.strategy is 'manual': there are no steps to run (allowed for `rollout "
            "run`: all-at-once, canary, linear)",
            hint="shift traffic by hand (`vxdeploy rollout 90/10`) and `rollout promote`, "
                 "or set rollout.strategy to canary, linear or all-at-once")
    return steps_for(policy)


class SystemClock:
    """Wall-clock time; epoch seconds because step starts are stored in labels."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass
class Rollout:
    """One endpoint's rollouts under one profile's policy."""

    endpoint: EndpointPort
    aliases: AliasPort
    metrics: MetricsPort
    policy: RolloutPolicy
    clock: Clock = field(default_factory=SystemClock)
    on_progress: Callable[[Progress], None] | None = None
    poll_s: float | None = None  # how often a bake re-reads metrics; derived when None

    # -- reading -----------------------------------------------------------------------

    def status(self) -> Report:
        view = self.endpoint.read()
        report = Report("status", view.name, traffic=dict(view.traffic_written),
                        state=RolloutState.from_labels(view.labels))
        if not view.deployed_models:
            report.outcome = "empty"
            return report
        versions = resolve(view.name, view.deployed_models, view.traffic_split, view.labels)
        report.stable, report.candidate = versions.stable, versions.candidate
        report.outcome = live_outcome(report.state, versions.candidate, view.traffic_split)
        report.steps = self._steps_or_empty()
        return report

    def _steps_or_empty(self) -> list[int]:
        try:
            return steps_for(self.policy)
        except InvalidInputError:
            return []

    def _with_candidate(
            self, view: LiveEndpoint) -> tuple[Versions[LiveDeployedModel], LiveDeployedModel]:
        versions = resolve(view.name, view.deployed_models, view.traffic_split, view.labels)
        if versions.candidate is None:
            raise NotFoundError(
                f"endpoint {view.name} has no candidate: only the stable version "
                f"(deployed model {versions.stable.id}) is newer than nothing",
                hint="deploy a new model version first (`vxdeploy deploy --profile NAME`)")
        return versions, versions.candidate

    # -- writing -----------------------------------------------------------------------

    def _write(self, view: LiveEndpoint, state: RolloutState,
               traffic: dict[str, int]) -> LiveEndpoint:
        return self.endpoint.write(view.etag, traffic, merge_labels(view.labels, state))

    def _now(self) -> int:
        """Whole seconds (labels hold them), rounded up so a step's window never starts
        before its traffic was written."""
        return math.ceil(self.clock.now())

    def set_split(self, candidate_percent: int) -> Report:
        """`rollout 90/10`: a hand-set split between stable and candidate."""
        percent = check_percent(candidate_percent)
        view = self.endpoint.read()
        versions, candidate = self._with_candidate(view)
        state = RolloutState(Phase.MANUAL, versions.stable.id, candidate.id, 0, self._now())
        view = self._write(view, state, split_for(versions.stable.id, candidate.id, percent))
        return Report("set", view.name, "set", versions.stable, candidate,
                      dict(view.traffic_written), state=state)

    def _fate(self, version: LiveDeployedModel) -> str:
        keep = self.policy.old_version is OldVersionPolicy.KEEP
        return (f"{'keep' if keep else 'undeploy'} deployed model {version.id} "
                f"(version {version.version_id or '?'})")

    def abort(self, ask: Callable[[str], None] | None = None) -> Report:
        """Stable back to 100%; the candidate is kept at 0% or undeployed, per policy.

        `ask` is shown what will happen once it is known and raises to decline.
        """
        view = self.endpoint.read()
        versions = resolve(view.name, view.deployed_models, view.traffic_split, view.labels)
        report = Report("abort", view.name, stable=versions.stable,
                        candidate=versions.candidate)
        if versions.candidate is None:
            report.outcome, report.traffic = "nothing-to-abort", dict(view.traffic_written)
            return report
        if ask is not None:
            ask(f"Give stable deployed model {versions.stable.id} 100% of {view.name} and "
                f"{self._fate(versions.candidate)}?")
        state = RolloutState(Phase.ABORTED, versions.stable.id, versions.candidate.id, 0,
                             self._now(), reason="aborted")
        view = self._write(view, state,
                           split_for(versions.stable.id, versions.candidate.id, 0))
        report.retired = self._retire(versions.candidate)
        report.outcome, report.traffic, report.state = "aborted", dict(view.traffic_written), state
        if report.retired:
            report.traffic = dict(self.endpoint.read().traffic_written)
        return report

    def promote(self, ask: Callable[[str], None] | None = None) -> Report:
        """Candidate to 100%, `stable` alias moves, old version retired after the wait.

        `ask` is shown what will happen once it is known and raises to decline.
        """
        view = self.endpoint.read()
        state = RolloutState.from_labels(view.labels)
        versions = resolve(view.name, view.deployed_models, view.traffic_split, view.labels)
        if versions.candidate is None:
            return self._finish_retirement(view, state, Report("promote", view.name))
        if ask is not None:
            candidate = versions.candidate
            wait = self.policy.termination_wait_s
            ask(f"Give candidate deployed model {candidate.id} (version "
                f"{candidate.version_id or '?'}) 100% of {view.name}, move the `stable` alias "
                f"to it and {self._fate(versions.stable)}"
                + (f" after {wait:g}s" if wait and self.policy.old_version is
                   OldVersionPolicy.UNDEPLOY else "") + "?")
        report = Report("promote", view.name, stable=versions.stable,
                        candidate=versions.candidate)
        return self._promote(view, versions.stable, versions.candidate, report)

    def _promote(self, view: LiveEndpoint, stable: LiveDeployedModel,
                 candidate: LiveDeployedModel, report: Report) -> Report:
        state = RolloutState(Phase.PROMOTED, stable.id, candidate.id,
                             max(0, len(report.steps) - 1), self._now())
        view = self._write(view, state, split_for(stable.id, candidate.id, 100))
        self.aliases.move(STABLE_ALIAS, stable, candidate, drop=(CANDIDATE_ALIAS,))
        if DEFAULT_ALIAS not in candidate.aliases:  # `default` moves with `stable`
            self.aliases.move(DEFAULT_ALIAS, None, candidate)
        report.state = state
        return self._finish_retirement(view, state, report)

    def _finish_retirement(self, view: LiveEndpoint, state: RolloutState,
                           report: Report) -> Report:
        """After promotion: wait out the termination wait, then retire the old version."""
        old = view.deployed(state.stable_id) if state.phase is Phase.PROMOTED else None
        report.state = report.state or state
        if old is None or state.candidate_id == old.id:
            report.outcome = report.outcome or ("promoted" if state.phase is Phase.PROMOTED
                                                else "nothing-to-promote")
            report.traffic = dict(view.traffic_written)
            return report
        wait = state.since + self.policy.termination_wait_s - self.clock.now()
        if wait > 0 and self.policy.old_version is OldVersionPolicy.UNDEPLOY:
            self._say(f"termination wait: {wait:.0f}s before deployed model {old.id} "
                      "is undeployed")
            self.clock.sleep(wait)
        report.retired = self._retire(old)
        report.outcome = "promoted"
        # Say what is live: the promoted version is stable, the old one is the previous.
        report.stable = view.deployed(state.candidate_id)
        report.candidate, report.previous = None, old
        report.traffic = dict(self.endpoint.read().traffic_written)
        return report

    def _retire(self, version: LiveDeployedModel) -> list[str]:
        if self.policy.old_version is OldVersionPolicy.KEEP:
            return []
        self.endpoint.undeploy(version.id)
        return [version.id]

    def _say(self, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(-1, [], 0, 0.0, None, None, message))

    # -- the progressive rollout --------------------------------------------------------

    def run(self) -> Report:
        """Walk the strategy's steps, gate each one, promote or roll back by itself.

        Resumes a rollout another process left RUNNING in the endpoint labels at the step
        it had reached, with the bake clock it had started.
        """
        steps = check_runnable(self.policy)
        view = self.endpoint.read()
        state = RolloutState.from_labels(view.labels)
        versions = resolve(view.name, view.deployed_models, view.traffic_split, view.labels)
        if versions.candidate is None and state.phase is Phase.PROMOTED:
            return self._finish_retirement(view, state, Report("run", view.name, steps=steps))
        versions, candidate = self._with_candidate(view)
        stable = versions.stable
        report = Report("run", view.name, stable=stable, candidate=candidate, steps=steps)

        if (state.phase is Phase.RUNNING and state.stable_id == stable.id
                and state.candidate_id == candidate.id and state.step < len(steps)):
            if view.share(candidate.id) != steps[state.step]:
                raise ConflictError(
                    f"the rollout record says step {state.step} ({steps[state.step]}%) but "
                    f"the candidate has {view.share(candidate.id)}%: someone changed the "
                    "traffic or the steps; not overwriting",
                    hint="check `vxdeploy rollout status`, then `rollout abort` or set the "
                         "split by hand and run again")
            report.resumed_from_step = state.step
            self._say(f"resuming at step {state.step + 1}/{len(steps)} "
                      f"({steps[state.step]}%), started {iso(state.since)}")
        else:
            index = start_index(steps, view.share(candidate.id))
            state = RolloutState(Phase.RUNNING, stable.id, candidate.id, index, self._now())
            view = self._write(view, state, split_for(stable.id, candidate.id, steps[index]))

        while True:
            if needs_gates(self.policy, steps, state.step):
                view, result, reading = self._bake(view, state, steps, candidate.id)
            else:
                result, reading = GateResult(Verdict.PASS, "ok", "no final bake"), None
            report.history.append({
                "step": state.step, "percent": steps[state.step],
                "started_at": iso(state.since), "ended_at": iso(self.clock.now()),
                **result.to_dict(), "reading": reading.to_dict() if reading else None})
            after = advance(state, steps, result, self.clock.now())
            if after.phase is Phase.ROLLED_BACK:
                view = self._write(view, after, split_for(stable.id, candidate.id, 0))
                report.retired = self._retire(candidate)
                report.outcome, report.reason, report.state = "rolled-back", result.reason, after
                report.traffic = dict(self.endpoint.read().traffic_written if report.retired
                                      else view.traffic_written)
                return report
            if after.phase is Phase.PROMOTED:
                return self._promote(view, stable, candidate, report)
            view = self._write(view, after, split_for(stable.id, candidate.id,
                                                      steps[after.step]))
            state = after

    def _poll_every(self, timing: StepTiming) -> float:
        if self.poll_s is not None:
            return self.poll_s
        return min(30.0, max(0.5, (timing.bake_s + timing.metrics_delay_s) / 10))

    def _bake(self, view: LiveEndpoint, state: RolloutState, steps: list[int],
              candidate_id: str) -> tuple[LiveEndpoint, GateResult, Reading | None]:
        """Hold the step, reading gates until they pass or fail; stop on a foreign write."""
        timing = timing_for(self.policy, steps, state)
        every = self._poll_every(timing)
        while True:
            now = self.clock.now()
            reading = self.metrics.read(candidate_id, timing.started_at, now)
            result = judge(self.policy.gates, reading,
                           window_complete=timing.window_complete(now),
                           deadline_passed=timing.deadline_passed(now))
            if self.on_progress is not None:
                self.on_progress(Progress(state.step, steps, steps[state.step],
                                          timing.bake_left(now), reading, result))
            if result.verdict is not Verdict.WAIT:
                return view, result, reading
            next_mark = timing.decide_at if now < timing.decide_at else timing.deadline
            self.clock.sleep(min(every, max(0.05, next_mark - now)))
            latest = self.endpoint.read()
            if latest.etag != view.etag:
                raise ConflictError(
                    f"endpoint {view.name} was changed by someone else during step "
                    f"{state.step + 1} (traffic now {latest.traffic_written}); the rollout stopped "
                    "without overwriting it",
                    hint="`vxdeploy rollout status` shows the state; `rollout run` resumes, "
                         "`rollout abort` returns traffic to stable")
