// syncache: the public API.
export { Responder, type ResponderOptions, type ResponderEvents } from './responder/responder.js';
export { protect, Protection, type ProtectOptions, type HandoffStats } from './handoff/protect.js';
export { protectFor, serveHandedSockets, unreadableBy, type HandedConnection, type ClosedConnection } from './handoff/split.js';
export type { Handshake } from './engine/engine.js';
export { resolveConfig, type SyncacheConfig, type SyncacheConfigInput } from './engine/config.js';
export { COUNTER_NAMES } from './engine/stats.js';
export type { CookieMode } from './native/addon.js';
export { syncacheMetrics, metricName, type MetricsOptions } from './metrics/prometheus.js';
export type { IoChoice } from './responder/io-choice.js';
export { Door, doorUnavailableReason, type DoorOptions } from './door/door.js';
