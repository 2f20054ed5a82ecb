/**
 * A per-key memo for the environment probes (binary lookup, TLS support): each spawns processes, so it
 * runs once per key for the life of the process.
 */
export function memoByKey<T>(): (key: string, probe: () => T) => T {
  const cache = new Map<string, T>()
  return (key, probe) => {
    const cached = cache.get(key)
    if (cached) return cached
    const value = probe()
    cache.set(key, value)
    return value
  }
}
