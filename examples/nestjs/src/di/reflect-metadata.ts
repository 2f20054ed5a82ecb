// The part of the `reflect-metadata` polyfill that TypeScript's emitted `__metadata(...)` calls and a DI
// container need. A NestJS app imports 'reflect-metadata' instead; this keeps the example dependency-free.
type Target = object
const store = new WeakMap<Target, Map<string | symbol | undefined, Map<unknown, unknown>>>()

function table(target: Target, property: string | symbol | undefined) {
  let byProperty = store.get(target)
  if (!byProperty) {
    byProperty = new Map()
    store.set(target, byProperty)
  }
  let entries = byProperty.get(property)
  if (!entries) {
    entries = new Map()
    byProperty.set(property, entries)
  }
  return entries
}

const reflect = Reflect as unknown as Record<string, unknown>
if (typeof reflect.metadata !== 'function') {
  reflect.defineMetadata = (key: unknown, value: unknown, target: Target, property?: string | symbol) =>
    table(target, property).set(key, value)
  reflect.getMetadata = (key: unknown, target: Target, property?: string | symbol): unknown => {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t)) {
      const entries = store.get(t)?.get(property)
      if (entries?.has(key)) return entries.get(key)
    }
    return undefined
  }
  reflect.metadata =
    (key: unknown, value: unknown) =>
    (target: Target, property?: string | symbol): void => {
      table(target, property).set(key, value)
    }
}

export function getMetadata<T>(key: string, target: object): T | undefined {
  return (reflect.getMetadata as (key: string, target: object) => T | undefined)(key, target)
}
