import { createCache, MemoryStore } from '@tiercache/core'
import { describeStaleSetRace } from './stale-set-race.js'

// One named memory:// store per file: every instance shares it, as processes share a Redis.
describeStaleSetRace('memory://', () => ({
  cache: (options) => createCache({ store: 'memory://no-stale-sets', ...options }),
  store: () => MemoryStore.shared('no-stale-sets'),
}))
