"""One request, end to end: score -> decide -> execute -> record.

The engine composes the parts; it owns none of their logic. Scorers return numbers, the policy turns
numbers into a Decision, the local worker and the cloud client execute, the decision log records.

Private by default: if scoring or the policy fails, the request is answered locally or refused, never
forwarded. A cloud failure falls back to the decision's fallback route (normally local).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from router.backends.base import MIN_ANSWER_TOKENS, Backend, Piece, Prefill
from router.checks import Answer as ChecksAnswer
from router.checks import CheckSettings, Rejection, check_answer, check_partial, find_loop, undecided
from router.cloud import CloudClient
from router.decisions import DecisionLog, DecisionRow, log_decision
from router.errors import (
    CallerGone,
    CloudError,
    CloudNotConfigured,
    ContextOverflow,
    Denied,
    NotFound,
    Overloaded,
    RouterError,
)
from router.feedback import Feedback, agrees, compare, selected
from router.ids import new_id
from router.outcomes import decision_columns
from router.redact import StreamRestorer, redact_messages
from router.types import (
    ComplexityReport,
    Decision,
    DecisionContext,
    Finding,
    GenerationOptions,
    PrivacyReport,
    PromptTokens,
    Request,
    Route,
    Timings,
    Usage,
)
from router.worker import Job, LocalWorker

if TYPE_CHECKING:
    from router.budget import BudgetState
    from router.policy_schema import Shadow
    from router.prices import PriceTable

# A model-stage job still on the worker: its handle, and its results when it goes on to generate locally.
# Its third item, set once the caller has taken the decision, lets the job go on to generate.
LocalJob = tuple[Job, AsyncGenerator[Any, None] | None, threading.Event | None] | None

# A model-stage job that decided LOCAL waits this long for its caller to take the decision before it
# generates; a caller that does not read (a stalled stream) then does not hold the model: the job ends,
# and generation starts again in a fresh job when the caller comes back (the prompt is evaluated again).
CONTINUE_WAIT_S = 0.25
_LATE = object()  # what such a job yields instead of its answer

log = structlog.get_logger("router.engine")

FAIL_CLOSED = "fail-closed"  # the rule of a decision made without scores or policy: it stays local

# With a local fallback, the cloud gets this share of the time left before the caller's deadline.
CLOUD_SHARE_OF_DEADLINE = 0.6
# Longer texts are scanned for private data in a worker thread, so that one request's scan never holds
# the event loop (other calls, health checks); shorter ones, nearly all prompts, scan inline (about 2 ms,
# 16 ms for the worst adversarial text of that size: docs/privacy.md).
PRIVACY_INLINE_CHARS = 4_000

# A stream that has sent text looks for a loop every this many tokens, in this much of its end.
LOOP_CHECK_EVERY = 8
LOOP_WINDOW_CHARS = 2000


class PolicyLike(Protocol):
    version: str
    answer_checks: CheckSettings
    shadow: Shadow

    def decide(self, ctx: DecisionContext) -> Decision: ...

    def decide_without_complexity(self, ctx: DecisionContext) -> Decision | None: ...

    def on_answer_rejected(self, ctx: DecisionContext, check: str) -> Decision: ...


def _decided_early(policy: PolicyLike, ctx: DecisionContext) -> Decision | None:
    """The policy's decision if it does not depend on the complexity score; None when it does or when
    the policy cannot tell (deciding then goes the usual way, which fails closed). A local answer whose
    model-stage inputs the policy keeps for learning (`shadow.keep_features`) still gets its prefill."""
    try:
        decision = policy.decide_without_complexity(ctx)
        if decision is not None and decision.route is Route.LOCAL and policy.shadow.keep_features:
            return None
        return decision
    except Exception:
        return None


class BudgetLike(Protocol):
    def record(self, app_id: str, model: str, tokens_in: int, tokens_out: int) -> None: ...

    def state(self, app_id: str, pending_tokens: int = 0) -> BudgetState: ...

    def estimated_cost(self, model: str, tokens_in: int, tokens_out: int) -> float: ...

    @property
    def prices(self) -> PriceTable: ...


class PolicySource(Protocol):
    @property
    def current(self) -> PolicyLike: ...

    @property
    def budget(self) -> BudgetLike: ...


class PrivacyScorerLike(Protocol):
    def scan(self, text: str) -> PrivacyReport: ...


class ComplexityScorerLike(Protocol):
    def score_text(self, text: str) -> ComplexityReport: ...

    def settled(self, report: ComplexityReport) -> bool: ...

    def score_hidden(self, prefill: Prefill, first: ComplexityReport) -> ComplexityReport: ...

    def answer_expected_success(
        self, score: float, stage: str, logprobs: Sequence[float]
    ) -> float | None: ...


@dataclass(slots=True)
class Outcome:
    """The decision as the app sees it, filled in as the request runs."""

    id: str
    decided_route: Route
    route: Route
    rule: str
    reason: str
    policy_version: str
    complexity: float
    privacy: float
    stage: str
    findings: dict[str, int]
    model: str = ""
    fallback: bool = False
    fallback_reason: str = ""
    timings: Timings = field(default_factory=Timings)
    cloud_circuit: str = ""
    decision: Decision | None = None
    spans: tuple[Finding, ...] = ()  # the findings with offsets; never leaves the process
    tokens: PromptTokens = field(default_factory=lambda: PromptTokens.known(0))
    privacy_report: PrivacyReport | None = None  # for asking the policy again (answer checks)
    answer_check: str = ""  # the answer check that rejected the local answer ("" when none did)
    answer_check_value: float = 0.0
    note: str = ""  # why the route is not what the rule asked for, in words
    shadow: str = ""  # the shadow check: "", "pending" or "skipped:<why>" (router.feedback)
    prefill: Prefill | None = None  # the model stage's inputs, when it ran (kept for learning)
    stage1: float = 0.0  # the stage-1 score

    @property
    def summary(self) -> str:
        """The decision in words: where the request went, by which rule, and why it went elsewhere
        than the rule asked (cloud unavailable, budget spent, a rejected local answer, a failure)."""
        wanted = self.decision.wanted if self.decision is not None else None
        text = f"{self.route.value} by rule {self.rule}"
        if wanted is not None and wanted is not self.decided_route:
            text += f", which wanted {wanted.value}, but {self.note or 'the live state said otherwise'}"
        if self.answer_check:
            if self.route is Route.LOCAL:
                text += f"; the local answer failed the {self.answer_check} check and was delivered anyway"
                if self.note and self.note not in text:
                    text += f" ({self.note})"
            else:
                text += f"; the local answer failed the {self.answer_check} check, so it went "
                text += self.route.value
        elif self.fallback:
            text += f"; fell back to {self.route.value}: {self.fallback_reason}"
        return text


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    text: str
    usage: Usage
    finish_reason: str


# Events of an executing request, in order: one OutcomeEvent, any number of text deltas, one EndEvent.
@dataclass(frozen=True, slots=True)
class EndEvent:
    usage: Usage
    finish_reason: str


class Engine:
    def __init__(
        self,
        *,
        worker: LocalWorker,
        cloud: CloudClient | None,
        policies: PolicySource,
        privacy: PrivacyScorerLike,
        complexity: ComplexityScorerLike,
        decisions: DecisionLog | None,
        on_record: Callable[[Outcome], None] | None = None,
        assume_cloud: bool = False,
    ) -> None:
        """`assume_cloud`: decide as if a healthy cloud were configured (offline classification)."""
        self.worker = worker
        self.cloud = cloud
        self.policies = policies
        self.privacy = privacy
        self.complexity = complexity
        self.decisions = decisions
        self.on_record = on_record
        self.assume_cloud = assume_cloud
        # Work after the answer (shadow checks, keeping features): held so the tasks are not collected.
        self._background_tasks: set[asyncio.Task[None]] = set()
        self._said_no_answer_stage = False  # min_answer_success set, nothing to read it from: said once
        # What the local backend can give, used here and only here: without a hidden state the model
        # stage is skipped; without log-probabilities the low_confidence check finds nothing to judge;
        # without a tokenizer the backend's counts are estimates. Said once, at start-up.
        self.capabilities = worker.backend.capabilities
        for gap in self.capabilities.gaps():
            log.info(
                "local_capability_off",
                backend=worker.backend.info.backend,
                capability=gap.capability,
                effect=gap.effect,
                why=gap.why,
            )

    @property
    def backend(self) -> Backend:
        return self.worker.backend

    @property
    def cloud_state(self) -> str:
        return "disabled" if self.cloud is None else self.cloud.breaker.state

    # --- public entry points ------------------------------------------------------------------

    async def classify(self, request: Request) -> Outcome:
        started = time.monotonic()
        outcome, _ = await self._decide(request, started, allow_local_continuation=False)
        outcome.timings.total_ms = _ms_since(started)
        self._record(request, outcome, "classify", Usage(), "OK", "")
        return outcome

    async def route(self, request: Request, deadline: float | None = None) -> Answer:
        parts: list[str] = []
        outcome: Outcome | None = None
        end = EndEvent(Usage(), "stop")
        async for event in self.execute(request, deadline, kind="route"):
            if isinstance(event, Outcome):
                outcome = event
            elif isinstance(event, str):
                parts.append(event)
            else:
                end = event
        assert outcome is not None
        return Answer(outcome, "".join(parts), end.usage, end.finish_reason)

    async def execute(
        self, request: Request, deadline: float | None, kind: str = "stream"
    ) -> AsyncIterator[Outcome | str | EndEvent]:
        """Score, decide and run `request`, yielding the Outcome, then text deltas, then an EndEvent.

        The decision row is written when the request ends, however it ends (answered, failed, cancelled).
        """
        started = time.monotonic()
        status, error = "CANCELLED", "the caller went away"
        usage = Usage()
        outcome: Outcome | None = None
        answer: list[str] = []  # a local answer's text, for a shadow check
        try:
            outcome, local_job = await self._decide(request, started, allow_local_continuation=True)
            if outcome.route is Route.DENY:
                message = outcome.decision.deny_message if outcome.decision else ""
                raise Denied(
                    f"{message or 'refused by the routing policy'} (rule {outcome.rule!r})",
                    rule=outcome.rule,
                    decision_id=outcome.id,
                )
            yield outcome
            async for event in self._run(request, outcome, local_job, deadline, buffered=kind == "route"):
                if isinstance(event, EndEvent):
                    usage = event.usage
                    outcome.timings.total_ms = _ms_since(started)
                elif isinstance(event, str):
                    answer.append(event)
                yield event
            status, error = "OK", ""
        except CallerGone as e:
            status, error = "CANCELLED", e.message
            raise
        except RouterError as e:
            status, error = type(e).__name__, e.message
            raise
        except Exception as e:
            status, error = "INTERNAL", type(e).__name__  # the type only: messages may quote the prompt
            raise
        finally:
            if outcome is not None:
                outcome.timings.total_ms = _ms_since(started)
                shadow = status == "OK" and self._shadow_wanted(outcome, request.app_id)
                self._record(request, outcome, kind, usage, status, error)
                if shadow:
                    self._start_shadow(request, outcome, "".join(answer))
                if status == "OK":
                    self._keep_features(outcome)

    # --- deciding -----------------------------------------------------------------------------

    def _context(
        self, request: Request, privacy: PrivacyReport, complexity: ComplexityReport, tokens: PromptTokens
    ) -> DecisionContext:
        return DecisionContext(
            request=request,
            privacy=privacy,
            complexity=complexity,
            tokens=tokens,
            local_queue_depth=self.worker.waiting,
            local_queue_size=self.worker.queue_size,
            cloud_configured=self.assume_cloud or self.cloud is not None,
            cloud_healthy=self.assume_cloud
            or (self.cloud is not None and self.cloud.breaker.state != "open"),
            local_context_limit=self.backend.info.n_ctx,
        )

    async def context_for(self, request: Request) -> DecisionContext:
        """The DecisionContext for `request` (both scoring stages) without deciding: `policy explain`."""
        privacy = await _scan(self.privacy, request.text)
        prompt = self.backend.format_prompt(request.messages)
        prompt_tokens = await asyncio.to_thread(self.backend.count_tokens, prompt)
        complexity = self.complexity.score_text(request.text)
        if (
            self.capabilities.hidden_state
            and not self.complexity.settled(complexity)
            and prompt_tokens + MIN_ANSWER_TOKENS <= self.backend.info.n_ctx
        ):
            first = complexity

            def prefill(backend: Backend, cancel: Any) -> Iterator[Prefill]:
                yield backend.prefill(prompt)

            result, _ = await self.worker.run(prefill)
            complexity = self.complexity.score_hidden(result, first)
        return self._context(request, privacy, complexity, PromptTokens.known(prompt_tokens))

    async def _decide(
        self, request: Request, started: float, *, allow_local_continuation: bool
    ) -> tuple[Outcome, LocalJob]:
        """Scores and a Decision. When the model stage is needed, it runs on the worker; if the decision
        is then LOCAL (and continuation is allowed) the same worker job goes on to generate, so the
        prompt's forward pass is done once. Returns the still-running job in that case."""
        policy = self.policies.current
        text = request.text
        privacy_failed = False
        try:
            privacy = await _scan(self.privacy, text)
        except Exception as e:  # fail closed: an unscored request is treated as private and stays here
            log.error("privacy_scorer_failed", error_type=type(e).__name__)
            privacy, privacy_failed = PrivacyReport(1.0), True

        prompt = self.backend.format_prompt(request.messages)
        # Counted only if something needs the number (see PromptTokens); most prompts are far too short
        # to overflow the local context, which the backend's bound shows without tokenizing.
        backend = self.backend
        if len(prompt) > PRIVACY_INLINE_CHARS:
            # A long prompt is counted now, off the event loop (0.17 s for 200k characters), like its scan.
            tokens = PromptTokens.known(await asyncio.to_thread(backend.count_tokens, prompt))
        else:
            tokens = PromptTokens(lambda: backend.count_tokens(prompt), at_most=backend.max_tokens(prompt))
        room = backend.info.n_ctx - MIN_ANSWER_TOKENS  # the most prompt tokens that leave room to answer
        try:
            first = self.complexity.score_text(text)
        except Exception as e:
            log.error("complexity_scorer_failed", error_type=type(e).__name__)
            first = ComplexityReport(0.0, "failed")

        def decide(complexity: ComplexityReport) -> Decision:
            if privacy_failed:
                return Decision(
                    Route.LOCAL,
                    FAIL_CLOSED,
                    "the privacy scorer failed; answered on the device",
                    policy.version,
                    fallback=None,
                )
            try:
                return policy.decide(self._context(request, privacy, complexity, tokens))
            except Exception as e:  # fail closed: never forward on a policy failure
                log.error("policy_failed", error_type=type(e).__name__)
                return Decision(
                    Route.LOCAL,
                    FAIL_CLOSED,
                    "the policy could not be evaluated",
                    policy.version,
                    fallback=None,
                )

        local_job = None
        early = None
        if (
            privacy_failed
            or first.stage == "failed"
            or not self.capabilities.hidden_state
            or self.complexity.settled(first)
            or tokens.more_than(room)
            # the rules decide without reading the score (a metadata route, a privacy rule...): no
            # prefill, so a request bound for the cloud never waits for the local model
            or (early := _decided_early(policy, self._context(request, privacy, first, tokens)))
        ):
            complexity, decision = first, early or decide(first)
            scoring_ms, queue_ms = _ms_since(started), 0.0
            prefill = None
        else:
            complexity, decision, local_job, queue_ms, prefill = await self._model_stage(
                request, prompt, first, decide, allow_local_continuation
            )
            scoring_ms = _ms_since(started) - queue_ms

        outcome = Outcome(
            id=new_id(),
            decided_route=decision.route,
            route=decision.route,
            rule=decision.rule,
            reason=decision.reason,
            policy_version=decision.policy_version or policy.version,
            complexity=round(complexity.score, 4),
            privacy=round(privacy.score, 4),
            stage=complexity.stage,
            findings=privacy.categories,
            cloud_circuit=self.cloud_state,
            spans=privacy.findings,
            tokens=tokens,
            privacy_report=privacy,
            note=decision.note,
            prefill=prefill,
            stage1=first.score,
        )
        outcome.timings.scoring_ms = scoring_ms
        outcome.timings.queue_ms = queue_ms
        outcome.decision = decision
        return outcome, local_job

    async def _model_stage(
        self,
        request: Request,
        prompt: str,
        first: ComplexityReport,
        decide: Callable[[ComplexityReport], Decision],
        continue_locally: bool,
    ) -> tuple[ComplexityReport, Decision, LocalJob, float, Prefill | None]:
        """Prefill on the worker, score from the hidden state, decide there, and keep generating when
        the decision is LOCAL. The first item the job yields is (report, decision, prefill)."""
        complexity_scorer = self.complexity
        options = request.options
        go = threading.Event()

        def job(backend: Backend, cancel: Any) -> Iterator[Any]:
            prefill = None
            try:
                prefill = backend.prefill(prompt)
                report = complexity_scorer.score_hidden(prefill, first)
            except Exception as e:  # the model stage only refines: decide on the cheap stage
                log.warning("model_stage_failed", error_type=type(e).__name__)
                report = first
            decision = decide(report)
            yield (report, decision, prefill)
            if continue_locally and decision.route is Route.LOCAL:
                if not go.wait(CONTINUE_WAIT_S):
                    yield _LATE
                    return
                yield from backend.stream(prompt, options, cancel)

        try:
            handle = self.worker.submit(job)
        except Overloaded:
            # No room to run the model stage: decide on the cheap stage alone.
            return first, decide(first), None, 0.0, None
        results = handle.results()
        report, decision, prefill = await results.__anext__()
        if continue_locally and decision.route is Route.LOCAL:
            return report, decision, (handle, results, go), handle.queue_ms, prefill
        await results.aclose()
        return report, decision, (handle, None, None), handle.queue_ms, prefill

    # --- executing ----------------------------------------------------------------------------

    async def _run(
        self,
        request: Request,
        outcome: Outcome,
        local_job: LocalJob,
        deadline: float | None,
        *,
        buffered: bool,
    ) -> AsyncIterator[str | EndEvent]:
        """Run the decided route, falling back per the decision when it fails. `buffered` (unary calls):
        a cloud answer that breaks mid-way can still fall back, since nothing has reached the caller."""
        decision = outcome.decision
        assert decision is not None
        if outcome.route is Route.LOCAL:
            try:
                async for event in self._run_local_checked(request, outcome, local_job, deadline, buffered):
                    yield event
                return
            except Overloaded as e:
                if decision.fallback not in (Route.CLOUD, Route.CLOUD_REDACTED) or self.cloud is None:
                    raise
                self._fall_back(outcome, decision.fallback, e.message)
        sent = False
        cloud_deadline, first_byte_deadline = self._cloud_deadlines(
            deadline, local_fallback=decision.fallback is Route.LOCAL
        )
        try:
            async for event in self._run_cloud(
                request, outcome, deadline, cloud_deadline, first_byte_deadline, whole=buffered
            ):
                sent = sent or isinstance(event, str)
                yield event
        except CloudError as e:
            if sent or decision.fallback is not Route.LOCAL:
                raise  # text already reached the caller, or the policy says refuse
            self._fall_back(outcome, Route.LOCAL, e.message)
            async for event in self._run_local(request, outcome, None):
                yield event

    def _cloud_deadlines(
        self, deadline: float | None, *, local_fallback: bool
    ) -> tuple[float | None, float | None]:
        """(the cloud's deadline, its time-to-first-byte deadline). With a local fallback, keep part of
        the caller's time for it if the cloud fails, and fall back soon when the cloud does not start
        answering. Once a stream has sent text no fallback is possible: the cloud then has the caller's
        whole deadline (`_run_cloud` gets all three)."""
        if not local_fallback:
            return deadline, None
        now = time.monotonic()
        cloud_deadline = deadline
        if deadline is not None:
            cloud_deadline = now + CLOUD_SHARE_OF_DEADLINE * (deadline - now)
        after = self.cloud.fallback_after_s if self.cloud is not None else None
        first_byte_deadline = cloud_deadline
        if after is not None:
            first_byte_deadline = min(now + after, cloud_deadline or now + after)
        return cloud_deadline, first_byte_deadline

    def _fall_back(self, outcome: Outcome, route: Route, why: str) -> None:
        log.warning(
            "fallback", decision_id=outcome.id, from_route=outcome.route.value, to=route.value, why=why
        )
        outcome.route = route
        outcome.fallback = True
        outcome.fallback_reason = why

    async def _local_pieces(
        self, request: Request, outcome: Outcome, local_job: LocalJob
    ) -> AsyncGenerator[Piece, None]:
        """The local model's pieces for `request`, continuing the model stage's job when there is one."""
        outcome.model = self.backend.info.name
        n_ctx = self.backend.info.n_ctx
        if outcome.tokens.more_than(n_ctx - MIN_ANSWER_TOKENS):
            raise ContextOverflow(outcome.tokens.count, n_ctx)

        def fresh() -> tuple[Job, AsyncGenerator[Any, None]]:
            prompt, options = self.backend.format_prompt(request.messages), request.options
            job = self.worker.submit(lambda backend, cancel: backend.stream(prompt, options, cancel))
            return job, job.results()

        if local_job is not None and local_job[1] is not None and local_job[2] is not None:
            handle, results = local_job[0], local_job[1]  # generation goes on from the model stage's prefill
            local_job[2].set()
        else:
            handle, results = fresh()
        gen_started: float | None = None
        try:
            late = True
            while late:
                late = False
                async for piece in results:
                    if piece is _LATE:  # the model stage's job gave up waiting for us: start again
                        late = True
                        break
                    if gen_started is None:
                        gen_started = time.monotonic()
                        outcome.timings.queue_ms = max(outcome.timings.queue_ms, handle.queue_ms)
                    assert isinstance(piece, Piece)
                    if piece.finish_reason is not None:
                        outcome.timings.generation_ms = _ms_since(gen_started)
                    yield piece
                if late:
                    await results.aclose()
                    handle, results = fresh()
        finally:
            await results.aclose()  # sets the job's cancel event: generation stops at the next token

    async def _run_local(
        self, request: Request, outcome: Outcome, local_job: LocalJob
    ) -> AsyncIterator[str | EndEvent]:
        """The local answer as it comes, unchecked (a fallback after the cloud failed)."""
        async for piece in self._local_pieces(request, outcome, local_job):
            if piece.text:
                yield piece.text
            if piece.finish_reason is not None:
                yield EndEvent(piece.usage or Usage(), piece.finish_reason)

    async def _run_local_checked(
        self,
        request: Request,
        outcome: Outcome,
        local_job: LocalJob,
        deadline: float | None,
        buffered: bool,
    ) -> AsyncIterator[str | EndEvent]:
        """The local answer, checked before it leaves (router.checks).

        Unary calls: the whole answer is checked. Streams: the first tokens are held back until the
        answer can no longer be an echo, a refusal or an early loop (most answers show it within a token
        or two), or until `holdback_tokens` / `holdback_ms` from the first token; they are checked then,
        so a failed start escalates with nothing shown. After text was sent a loop cannot escalate any
        more: generation stops and the stream ends with finish_reason "repetition"."""
        if outcome.rule == FAIL_CLOSED:
            # Scoring or the policy failed: the answer stays here whatever it is, unchecked.
            async for event in self._run_local(request, outcome, local_job):
                yield event
            return
        settings = self.policies.current.answer_checks
        if not settings.enabled:
            async for event in self._run_local(request, outcome, local_job):
                yield event
            return
        pieces = self._local_pieces(request, outcome, local_job)
        text, n_tokens = "", 0
        logprobs: list[float] = []
        released, sent, loop_checked = buffered, 0, 0
        end: EndEvent | None = None
        t0: float | None = None  # the first token's arrival: queueing and prefill do not use up the window
        async for piece in pieces:
            if t0 is None:
                t0 = time.monotonic()
            text += piece.text
            logprobs.extend(piece.logprobs)
            if piece.finish_reason is not None:
                end = EndEvent(piece.usage or Usage(), piece.finish_reason)
                break
            n_tokens += max(1, len(piece.logprobs))
            if buffered:
                continue
            if released:
                if piece.text:
                    yield piece.text
                    sent = len(text)
                if n_tokens - loop_checked >= LOOP_CHECK_EVERY:
                    loop_checked = n_tokens
                    found = find_loop(
                        text[-LOOP_WINDOW_CHARS:], settings.loop_repeats, settings.loop_min_tokens
                    )
                    if found is not None:
                        period, covered = found
                        outcome.answer_check, outcome.answer_check_value = (
                            "repetition",
                            float(covered // period),
                        )
                        await pieces.aclose()
                        prompt_tokens = outcome.tokens.count
                        yield EndEvent(Usage(prompt_tokens, n_tokens), "repetition")
                        return
                continue
            if undecided(text, request.messages, settings) and (
                n_tokens < settings.holdback_tokens and _ms_since(t0) < settings.holdback_ms
            ):
                continue
            rejection = check_partial(ChecksAnswer(text, request.messages, "", logprobs), settings)
            if rejection is not None:
                escalation = self._escalation(request, outcome, rejection)
                if escalation is not None:
                    await pieces.aclose()
                    async for event in self._escalate(request, outcome, escalation, None, deadline, buffered):
                        yield event
                    return
            released = True
            if text:
                yield text
                sent = len(text)
        if end is None:  # the job ended without a final piece: cancelled underneath us (caller gone)
            return
        if not released or buffered:
            expected = None
            if settings.min_answer_success is not None:
                expected = self.complexity.answer_expected_success(
                    outcome.complexity, outcome.stage, logprobs
                )
                if expected is None and outcome.stage == "model":
                    self._say_no_answer_stage()
            rejection = check_answer(
                ChecksAnswer(text, request.messages, end.finish_reason, logprobs, expected), settings
            )
            if rejection is not None:
                escalation = self._escalation(request, outcome, rejection)
                if escalation is not None:
                    async for event in self._escalate(
                        request, outcome, escalation, (text, end), deadline, buffered
                    ):
                        yield event
                    return
        if len(text) > sent:
            yield text[sent:]
        yield end

    def _say_no_answer_stage(self) -> None:
        if not self._said_no_answer_stage:
            self._said_no_answer_stage = True
            log.warning(
                "answer_stage_missing",
                setting="answer_checks.min_answer_success",
                effect="no answer is judged by it",
                why="the model's complexity head has no answer stage, or the backend gives no "
                "log-probabilities; `router calibrate` fits the stage for this model",
            )

    def _escalation(self, request: Request, outcome: Outcome, rejection: Rejection) -> Decision | None:
        """Record `rejection` and ask the policy where the request goes now; None: deliver locally."""
        outcome.answer_check, outcome.answer_check_value = rejection.check, rejection.value
        privacy = outcome.privacy_report if outcome.privacy_report is not None else PrivacyReport(1.0)
        ctx = self._context(request, privacy, ComplexityReport(1.0, "answer_check"), outcome.tokens)
        decision = self.policies.current.on_answer_rejected(ctx, rejection.check)
        log.info(
            "local_answer_rejected",
            decision_id=outcome.id,
            check=rejection.check,
            value=rejection.value,
            to=decision.route.value,
        )
        if decision.route is Route.LOCAL:
            outcome.note = decision.note or decision.reason
            return None
        return decision

    async def _escalate(
        self,
        request: Request,
        outcome: Outcome,
        decision: Decision,
        local: tuple[str, EndEvent] | None,
        deadline: float | None,
        buffered: bool,
    ) -> AsyncIterator[str | EndEvent]:
        """Send a request whose local answer was rejected where `decision` says. When the cloud then
        fails, the local answer (`local`, or a fresh local run when the stream dropped it) is delivered."""
        if decision.route is Route.DENY:
            raise Denied(
                f"{decision.deny_message} (rule {decision.rule!r})",
                rule=decision.rule,
                decision_id=outcome.id,
            )
        self._fall_back(outcome, decision.route, f"local_answer_rejected:{outcome.answer_check}")
        outcome.note = decision.note
        # The local answer (or a fresh one) is the fallback if the cloud fails.
        cloud_deadline, first_byte_deadline = self._cloud_deadlines(deadline, local_fallback=True)
        sent = False
        try:
            async for event in self._run_cloud(
                request, outcome, deadline, cloud_deadline, first_byte_deadline, whole=buffered
            ):
                sent = sent or isinstance(event, str)
                yield event
        except CloudError as e:
            if sent:
                raise
            self._fall_back(
                outcome, Route.LOCAL, f"local_answer_rejected:{outcome.answer_check}; {e.message}"
            )
            if local is not None:
                outcome.model = self.backend.info.name
                if local[0]:
                    yield local[0]
                yield local[1]
                return
            async for event in self._run_local(request, outcome, None):
                yield event

    async def _run_cloud(
        self,
        request: Request,
        outcome: Outcome,
        deadline: float | None,
        cloud_deadline: float | None,
        first_byte_deadline: float | None,
        *,
        whole: bool,
    ) -> AsyncIterator[str | EndEvent]:
        """Ask the cloud. `whole` (unary calls): the answer is collected, so nothing is yielded before
        it is all in and a failure mid-answer can still fall back (within `cloud_deadline`, the cloud's
        share); else it is streamed, `cloud_deadline` bounding only the time to its first text and
        `deadline` the rest. A failed attempt records its time too (`cloud_ms`)."""
        cloud = self.cloud
        if cloud is None:
            raise CloudNotConfigured("no cloud is configured")
        messages, redaction = request.messages, None
        if outcome.route is Route.CLOUD_REDACTED:
            # The findings' originals stay in this process; the cloud sees typed placeholders only.
            messages, redaction = redact_messages(request.messages, outcome.spans)
        outcome.model = cloud.model
        t0 = time.monotonic()

        def finished(usage: Usage, finish_reason: str) -> EndEvent:
            outcome.timings.cloud_ms = _ms_since(t0)
            self.policies.budget.record(
                request.app_id, cloud.model, usage.prompt_tokens, usage.completion_tokens
            )
            return EndEvent(usage, finish_reason)

        if whole:
            try:
                answer = await cloud.complete(
                    messages, request.options, cloud_deadline, first_byte_deadline=first_byte_deadline
                )
            finally:
                outcome.timings.cloud_ms = _ms_since(t0)
            text = redaction.restore(answer.text) if redaction is not None else answer.text
            if text:
                yield text
            yield finished(answer.usage, answer.finish_reason)
            return
        restorer = StreamRestorer(redaction) if redaction is not None else None
        pieces = cloud.stream(messages, request.options, deadline, first_byte_deadline=first_byte_deadline)
        try:
            async for piece in pieces:
                text = piece.text
                if restorer is not None:
                    text = restorer.feed(text) + (restorer.flush() if piece.finish_reason else "")
                if text:
                    yield text
                if piece.finish_reason is not None:
                    yield finished(piece.usage or Usage(), piece.finish_reason)
        finally:
            if not outcome.timings.cloud_ms:
                outcome.timings.cloud_ms = _ms_since(t0)

    # --- outcomes from traffic -------------------------------------------------------------------

    async def feedback(self, feedback: Feedback) -> None:
        """Store a caller's verdict on an answer with its decision; NotFound when there is none."""
        if self.decisions is None:
            raise NotFound("this router keeps no decision log")
        values = {
            "feedback_score": feedback.score,
            "feedback_label": feedback.label,
            "feedback_ts": time.time(),
        }
        found = await asyncio.to_thread(
            self.decisions.annotate, feedback.decision_id, values, app=feedback.app_id
        )
        if not found:
            raise NotFound(f"no decision {feedback.decision_id} in the decision log (pruned, or never made)")

    def _shadow_wanted(self, outcome: Outcome, app_id: str) -> bool:
        """Whether to shadow this local answer (policy `shadow:`); sets `outcome.shadow` either way it
        is selected. Private requests are never shadowed, whatever the share."""
        if outcome.rule == FAIL_CLOSED:  # nothing about this request may be trusted to leave
            return False
        cfg = self.policies.current.shadow
        if (
            cfg.share <= 0
            or outcome.route is not Route.LOCAL
            or outcome.answer_check
            or self.decisions is None
            or not selected(outcome.id, cfg.share)
        ):
            return False
        if outcome.findings or outcome.privacy >= cfg.max_privacy:
            outcome.shadow = "skipped:private"
            return False
        if self.cloud is None or self.cloud.breaker.state == "open":
            outcome.shadow = "skipped:cloud_unavailable"
            return False
        if self.policies.budget.state(app_id).spent:
            outcome.shadow = "skipped:budget"
            return False
        outcome.shadow = "pending"
        return True

    def _start_shadow(self, request: Request, outcome: Outcome, local_answer: str) -> None:
        self._background(self._shadow(request, outcome.id, local_answer))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    def _keep_features(self, outcome: Outcome) -> None:
        """Keep the model stage's inputs of a local answer to a request that is not private (policy
        `shadow.keep_features`), for `router calibrate --from-log`."""
        if outcome.rule == FAIL_CLOSED:
            return
        cfg = self.policies.current.shadow
        head = getattr(self.complexity, "model_head", None)
        sha = getattr(head, "model_sha256", None)
        prefill = outcome.prefill
        if (
            not cfg.keep_features
            or self.decisions is None
            or prefill is None
            or not sha
            or outcome.route is not Route.LOCAL
            or outcome.findings
            or outcome.privacy >= cfg.max_privacy
            or outcome.rule == FAIL_CLOSED
        ):
            return
        data = json.dumps(
            {"hidden": prefill.hidden, "entropy": prefill.entropy, "top_prob": prefill.top_prob,
             "n_tokens": prefill.n_tokens}
        )  # fmt: skip
        store = self.decisions.store_features
        self._background(asyncio.to_thread(store, outcome.id, sha, outcome.stage1, data))

    async def _shadow(self, request: Request, decision_id: str, local_answer: str) -> None:
        cloud, decisions = self.cloud, self.decisions
        assert cloud is not None and decisions is not None
        cfg = self.policies.current.shadow
        options = GenerationOptions(max_tokens=cfg.max_tokens, temperature=0.0)
        try:
            reply = await cloud.complete(request.messages, options, time.monotonic() + 120)
        except CloudError as e:
            verdict: dict[str, Any] = {"shadow": f"error:{type(e).__name__}"}
        else:
            self.policies.budget.record(
                request.app_id, cloud.model, reply.usage.prompt_tokens, reply.usage.completion_tokens
            )
            score = compare(local_answer, reply.text, cfg.compare)
            verdict = {"shadow": "agree" if agrees(score, cfg.compare) else "disagree", "shadow_score": score}
        await asyncio.to_thread(decisions.annotate, decision_id, verdict)
        log.info("shadow_check", decision_id=decision_id, verdict=verdict["shadow"])

    # --- recording ----------------------------------------------------------------------------

    def _record(
        self, request: Request, outcome: Outcome, kind: str, usage: Usage, status: str, error: str
    ) -> None:
        """Queue the request's decision row. The outcome must not change after this: the decision log
        builds the row from it later, in its writer thread (which also logs the "decision" line)."""
        ts = time.time()
        if self.decisions is not None:
            self.decisions.record(lambda: decision_row(request, outcome, kind, usage, status, error, ts))
        else:
            log_decision(decision_row(request, outcome, kind, usage, status, error, ts))
        if self.on_record is not None:
            self.on_record(outcome)


def decision_row(
    request: Request, outcome: Outcome, kind: str, usage: Usage, status: str, error: str, ts: float
) -> DecisionRow:
    """The decision's columns (router.outcomes, the shape every door shows) and the request's own."""
    return DecisionRow(
        **decision_columns(outcome),
        ts=ts,
        app=request.app_id,
        kind=kind,
        tokens_in=usage.prompt_tokens,
        tokens_out=usage.completion_tokens,
        status=status,
        error=error,
        prompt_hash=request.prompt_hash,
        cloud_circuit=outcome.cloud_circuit,
        shadow=outcome.shadow,
    )


def _ms_since(t0: float) -> float:
    return (time.monotonic() - t0) * 1000


__all__ = ["Answer", "EndEvent", "Engine", "Outcome", "decision_row"]


async def _scan(privacy: PrivacyScorerLike, text: str) -> PrivacyReport:
    """`privacy.scan(text)`, in a worker thread when the text is long (see PRIVACY_INLINE_CHARS)."""
    if len(text) > PRIVACY_INLINE_CHARS:
        return await asyncio.to_thread(privacy.scan, text)
    return privacy.scan(text)
