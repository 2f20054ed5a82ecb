export interface User {
  id: string
  name: string
  email: string
}

/** Stands in for a real database: a Map, 20 ms per query, and a query counter so the cache's effect shows. */
export class UserDatabase {
  queries = 0
  readonly #rows = new Map<string, User>([
    ['1', { id: '1', name: 'Ada Lovelace', email: 'ada@example.com' }],
    ['2', { id: '2', name: 'Grace Hopper', email: 'grace@example.com' }],
    ['3', { id: '3', name: 'Edsger Dijkstra', email: 'edsger@example.com' }],
  ])

  constructor(readonly latencyMs = 20) {}

  async find(id: string): Promise<User | null> {
    await this.#query()
    const row = this.#rows.get(id)
    return row === undefined ? null : { ...row }
  }

  async update(id: string, changes: Partial<Omit<User, 'id'>>): Promise<User | null> {
    await this.#query()
    const row = this.#rows.get(id)
    if (row === undefined) return null
    Object.assign(row, changes)
    return { ...row }
  }

  async #query(): Promise<void> {
    this.queries++
    await new Promise((resolve) => setTimeout(resolve, this.latencyMs))
  }
}
