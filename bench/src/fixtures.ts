/** The values every scenario caches: a small user record, the typical cache-aside payload. */
export interface User {
  id: number
  name: string
  email: string
  active: boolean
  roles: string[]
  score: number
}

export function user(id: number): User {
  return {
    id,
    name: `User ${id}`,
    email: `user${id}@example.com`,
    active: id % 2 === 0,
    roles: ['reader', 'writer'],
    score: id * 1.5,
  }
}

/** `count` keys `<prefix>0 … <prefix>count-1`. */
export function keys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`)
}
