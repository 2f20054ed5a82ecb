import type { RemoteStore, StoreConfig } from '@tiercache/core'
import { ClusterStore } from './store.js'

export { ClusterBus } from './cluster-bus.js'
export { diagnoseCluster } from './diagnose.js'
export type { ClusterNodeAddress, ClusterStoreOptions, ResolvedClusterOptions } from './options.js'
export { resolveClusterOptions, toIoredisOptions } from './options.js'
export type { BatchStats, SlotCommand, SlotGroup } from './slot-batcher.js'
export { groupBySlot, SlotBatcher, slotOf } from './slot-batcher.js'
export { ClusterStore, escapeGlob } from './store.js'

/**
 * The adapter entry point core loads for `redis+cluster://`, `rediss+cluster://`, `valkey+cluster://`
 * and `{ type: 'cluster', nodes, … }`. Synchronous and lazy: nothing connects until the first call.
 */
export function createStore(config: StoreConfig): RemoteStore {
  return new ClusterStore(config)
}
