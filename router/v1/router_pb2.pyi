from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_KIND_UNSPECIFIED: _ClassVar[RouteKind]
    ROUTE_KIND_LOCAL: _ClassVar[RouteKind]
    ROUTE_KIND_CLOUD: _ClassVar[RouteKind]
    ROUTE_KIND_CLOUD_REDACTED: _ClassVar[RouteKind]
    ROUTE_KIND_DENY: _ClassVar[RouteKind]
ROUTE_KIND_UNSPECIFIED: RouteKind
ROUTE_KIND_LOCAL: RouteKind
ROUTE_KIND_CLOUD: RouteKind
ROUTE_KIND_CLOUD_REDACTED: RouteKind
ROUTE_KIND_DENY: RouteKind

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class GenerationOptions(_message.Message):
    __slots__ = ("max_tokens", "temperature", "stop", "top_p")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    temperature: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    top_p: float
    def __init__(self, max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., top_p: _Optional[float] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("messages", "app_id", "options", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    app_id: str
    options: GenerationOptions
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., app_id: _Optional[str] = ..., options: _Optional[_Union[GenerationOptions, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FindingCount(_message.Message):
    __slots__ = ("category", "count")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    category: str
    count: int
    def __init__(self, category: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("queue_ms", "scoring_ms", "generation_ms", "cloud_ms", "total_ms")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    SCORING_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_MS_FIELD_NUMBER: _ClassVar[int]
    CLOUD_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    queue_ms: float
    scoring_ms: float
    generation_ms: float
    cloud_ms: float
    total_ms: float
    def __init__(self, queue_ms: _Optional[float] = ..., scoring_ms: _Optional[float] = ..., generation_ms: _Optional[float] = ..., cloud_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("id", "route", "rule", "reason", "complexity", "privacy", "findings", "model", "timings", "stage", "policy_version", "fallback", "fallback_reason", "decided_route", "answer_check", "answer_check_value", "summary")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_ROUTE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_CHECK_FIELD_NUMBER: _ClassVar[int]
    ANSWER_CHECK_VALUE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    id: str
    route: RouteKind
    rule: str
    reason: str
    complexity: float
    privacy: float
    findings: _containers.RepeatedCompositeFieldContainer[FindingCount]
    model: str
    timings: Timings
    stage: str
    policy_version: str
    fallback: bool
    fallback_reason: str
    decided_route: RouteKind
    answer_check: str
    answer_check_value: float
    summary: str
    def __init__(self, id: _Optional[str] = ..., route: _Optional[_Union[RouteKind, str]] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., complexity: _Optional[float] = ..., privacy: _Optional[float] = ..., findings: _Optional[_Iterable[_Union[FindingCount, _Mapping]]] = ..., model: _Optional[str] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., stage: _Optional[str] = ..., policy_version: _Optional[str] = ..., fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., decided_route: _Optional[_Union[RouteKind, str]] = ..., answer_check: _Optional[str] = ..., answer_check_value: _Optional[float] = ..., summary: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("decision", "text", "usage", "finish_reason")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    text: str
    usage: Usage
    finish_reason: str
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., text: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ("usage", "finish_reason", "decision")
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    usage: Usage
    finish_reason: str
    decision: Decision
    def __init__(self, usage: _Optional[_Union[Usage, _Mapping]] = ..., finish_reason: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class RouteStreamResponse(_message.Message):
    __slots__ = ("decision", "delta", "end")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    delta: str
    end: StreamEnd
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., delta: _Optional[str] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("decision_id", "good", "score", "label", "app_id")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    GOOD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    good: bool
    score: float
    label: str
    app_id: str
    def __init__(self, decision_id: _Optional[str] = ..., good: _Optional[bool] = ..., score: _Optional[float] = ..., label: _Optional[str] = ..., app_id: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("decision_id", "score")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    score: float
    def __init__(self, decision_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RouteCount(_message.Message):
    __slots__ = ("route", "app_id", "rule", "status", "count")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    route: str
    app_id: str
    rule: str
    status: str
    count: int
    def __init__(self, route: _Optional[str] = ..., app_id: _Optional[str] = ..., rule: _Optional[str] = ..., status: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("uptime_s", "requests", "queue_depth", "cloud_circuit", "tokens_in", "tokens_out", "estimated_cloud_cost", "model", "policy_version")
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    CLOUD_CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_IN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_OUT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_CLOUD_COST_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    uptime_s: float
    requests: _containers.RepeatedCompositeFieldContainer[RouteCount]
    queue_depth: int
    cloud_circuit: str
    tokens_in: int
    tokens_out: int
    estimated_cloud_cost: float
    model: str
    policy_version: str
    def __init__(self, uptime_s: _Optional[float] = ..., requests: _Optional[_Iterable[_Union[RouteCount, _Mapping]]] = ..., queue_depth: _Optional[int] = ..., cloud_circuit: _Optional[str] = ..., tokens_in: _Optional[int] = ..., tokens_out: _Optional[int] = ..., estimated_cloud_cost: _Optional[float] = ..., model: _Optional[str] = ..., policy_version: _Optional[str] = ...) -> None: ...
