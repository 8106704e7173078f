"""The method table: every PROTOCOL.md method, its params type and result type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from axd.protocol import flags as fl
from axd.protocol import snapshots as sn
from axd.protocol import telemetry as tm
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Mapping

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Method(Generic[P, R]):
    """A wire method: name, params Struct, result type, one-line summary."""

    name: str
    params: type[P]
    result: type[R]
    summary: str


def _m(name: str, params: type[P], result: type[R], summary: str) -> Method[P, R]:
    return Method(name, params, result, summary)


Free = dict[str, Any]  # results whose shape is documented in prose only

SERVER_INFO = _m(
    "server.info", t.Empty, t.ServerInfo, "Version, pid, uptime, languages."
)
SERVER_SHUTDOWN = _m("server.shutdown", t.Empty, t.Ok, "Stop the daemon gracefully.")
RPC_DISCOVER = _m("rpc.discover", t.Empty, Free, "This API as an OpenRPC document.")

WORKSPACE_ADD = _m(
    "workspace.add", t.WorkspaceAddParams, t.WorkspaceAdded, "Add a root."
)
WORKSPACE_REMOVE = _m(
    "workspace.remove", t.WorkspaceRemoveParams, t.Ok, "Stop watching a root."
)
WORKSPACE_LIST = _m("workspace.list", t.Empty, t.WorkspaceList, "Every workspace.")
INDEX_STATUS = _m("index.status", t.RootParams, t.IndexStatus, "Counts and state.")
INDEX_WAIT = _m(
    "index.wait", t.IndexWaitParams, t.IndexStatus, "Wait for an empty queue."
)
INDEX_REINDEX = _m("index.reindex", t.IndexReindexParams, t.Queued, "Queue re-parses.")
FILES_EXPLAIN = _m(
    "files.explain", t.FilesExplainParams, t.FileExplanation, "Why (not) indexed."
)

SEARCH = _m("search", t.SearchParams, t.SearchResult, "Ranked code search.")
SYMBOLS_DEFINITION = _m(
    "symbols.definition", t.DefinitionParams, t.DefinitionResult, "Find definitions."
)
SYMBOLS_REFERENCES = _m(
    "symbols.references", t.ReferencesParams, t.ReferencesResult, "Find uses."
)
SYMBOLS_OUTLINE = _m("symbols.outline", t.PathParams, t.OutlineResult, "File outline.")
SYMBOLS_SEARCH = _m(
    "symbols.search", t.SymbolSearchParams, t.SymbolSearchResult, "Fuzzy symbols."
)
CHUNKS_GET = _m("chunks.get", t.ChunksParams, t.ChunksResult, "A file's chunks.")
GRAPH_IMPORTS = _m("graph.imports", t.PathParams, t.ImportsResult, "A file's imports.")
GRAPH_IMPORTERS = _m(
    "graph.importers", t.PathParams, t.ImportersResult, "Files importing a file."
)
GRAPH_DEPENDENCIES = _m(
    "graph.dependencies", t.GraphWalkParams, t.GraphWalkResult, "Transitive imports."
)
GRAPH_DEPENDENTS = _m(
    "graph.dependents", t.GraphWalkParams, t.GraphWalkResult, "Transitive importers."
)
GRAPH_CYCLES = _m("graph.cycles", t.CyclesParams, t.CyclesResult, "Import cycles.")

SUBSCRIBE = _m("subscribe", t.SubscribeParams, t.Subscribed, "Receive notifications.")
UNSUBSCRIBE = _m("unsubscribe", t.UnsubscribeParams, t.Ok, "Stop notifications.")

HEALTH = _m("health", t.Empty, t.HealthReport, "Component health.")
METRICS = _m("metrics", t.Empty, t.MetricsText, "Prometheus text exposition.")

SNAPSHOT_CREATE = _m(
    "snapshot.create", sn.SnapshotCreateParams, sn.Snapshot, "Snapshot the index."
)
SNAPSHOT_LIST = _m("snapshot.list", t.RootParams, sn.SnapshotList, "List snapshots.")
SNAPSHOT_RESTORE = _m(
    "snapshot.restore", sn.SnapshotIdParams, sn.SnapshotRestored, "Restore a snapshot."
)
SNAPSHOT_DELETE = _m("snapshot.delete", sn.SnapshotIdParams, t.Ok, "Delete a snapshot.")
SNAPSHOT_EXPORT = _m(
    "snapshot.export",
    sn.SnapshotExportParams,
    sn.SnapshotExported,
    "Write a portable snapshot file.",
)
SNAPSHOT_IMPORT = _m(
    "snapshot.import",
    sn.SnapshotImportParams,
    sn.SnapshotRestored,
    "Import and restore a portable snapshot file.",
)
DB_STATUS = _m("db.status", t.RootParams, sn.DbStatus, "Schema migrations state.")
DB_MIGRATE = _m("db.migrate", sn.DbMigrateParams, sn.DbChanged, "Apply migrations.")
DB_ROLLBACK = _m(
    "db.rollback", sn.DbRollbackParams, sn.DbChanged, "Run down migrations."
)
DB_BACKUP = _m("db.backup", sn.DbPathParams, sn.DbBackedUp, "Copy the database.")
DB_RESTORE = _m(
    "db.restore", sn.DbPathParams, sn.DbRestored, "Replace the database from a file."
)

FLAGS_EVALUATE = _m(
    "flags.evaluate", fl.FlagEvaluateParams, fl.FlagEvaluation, "Evaluate a flag."
)
FLAGS_EVALUATE_ALL = _m(
    "flags.evaluate_all", fl.FlagEvaluateAllParams, fl.FlagEvaluations, "Every flag."
)
FLAGS_LIST = _m("flags.list", t.Empty, fl.FlagList, "Flag definitions.")
FLAGS_SET = _m(
    "flags.set", fl.FlagDefinition, fl.FlagSetResult, "Create/replace a flag."
)
FLAGS_DELETE = _m("flags.delete", fl.FlagNameParams, t.Ok, "Delete a flag.")
FLAGS_TRACK = _m(
    "flags.track", fl.FlagTrackParams, t.Ok, "Record an exposure's outcome."
)
FLAGS_STATS = _m(
    "flags.stats", fl.FlagNameParams, fl.FlagStats, "Exposures and errors by arm."
)

TELEMETRY_STATUS = _m(
    "telemetry.status", t.Empty, tm.TelemetryStatus, "Consent and counters."
)
TELEMETRY_CONSENT = _m(
    "telemetry.consent", tm.TelemetryConsentParams, tm.TelemetryStatus, "Opt in/out."
)
TELEMETRY_STATS = _m(
    "telemetry.stats", tm.SinceParams, tm.TelemetryStats, "Usage statistics."
)
TELEMETRY_ERRORS = _m(
    "telemetry.errors", tm.SinceParams, tm.TelemetryErrors, "Recorded errors."
)
TELEMETRY_PERFORMANCE = _m(
    "telemetry.performance",
    tm.SinceParams,
    tm.TelemetryPerformance,
    "Latency percentiles.",
)
TELEMETRY_EXPORT = _m(
    "telemetry.export", tm.SinceParams, tm.TelemetryExport, "Every raw event."
)
TELEMETRY_CLEAR = _m(
    "telemetry.clear", t.Empty, tm.TelemetryCleared, "Delete everything recorded."
)

ALL: tuple[Method[Any, Any], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Method)
)
METHODS: Mapping[str, Method[Any, Any]] = {method.name: method for method in ALL}
