import { Injectable } from '../di/container.js'

export interface Profile {
  id: number
  name: string
  plan: 'free' | 'pro'
}

/** The data source (in a Nest app: a TypeORM/Prisma repository). Counts its queries. */
@Injectable()
export class UsersRepository {
  queries = 0
  readonly #rows = new Map<number, Profile>([
    [1, { id: 1, name: 'Ada', plan: 'pro' }],
    [2, { id: 2, name: 'Grace', plan: 'free' }],
  ])

  async findOne(id: number): Promise<Profile | undefined> {
    this.queries++
    await new Promise((resolve) => setTimeout(resolve, 10))
    const row = this.#rows.get(id)
    return row && { ...row }
  }

  async findByPlan(plan: Profile['plan']): Promise<Profile[]> {
    this.queries++
    return [...this.#rows.values()].filter((row) => row.plan === plan).map((row) => ({ ...row }))
  }

  async updatePlan(id: number, plan: Profile['plan']): Promise<Profile> {
    this.queries++
    const row = this.#rows.get(id)
    if (!row) throw new Error(`user ${id} not found`)
    row.plan = plan
    return { ...row }
  }
}
